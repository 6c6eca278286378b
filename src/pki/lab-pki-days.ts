/** Lab leaves: long enough for a lab left up for weeks, short enough to exercise renewal. */
export const DEFAULT_LEAF_DAYS = 30
/** A new CA outlives many leaf renewals; the bundle changes only when it is replaced. */
export const CA_DAYS = 365
export const MAX_LEAF_DAYS = CA_DAYS - 1
