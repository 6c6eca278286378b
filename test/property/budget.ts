/** Property runs per check: a short budget in `make test`, a long one in `make fuzz`. */
export const RUNS = Number(process.env.FUZZ_RUNS ?? 300)
