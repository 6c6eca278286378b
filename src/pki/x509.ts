// @peculiar/x509 resolves its parsers through tsyringe, which needs the reflect-metadata polyfill
// loaded first; every module in src/pki imports x509 from here so the order is guaranteed.
import 'reflect-metadata'
import { webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

export { x509 }
