//! Calls to NetBox on behalf of a caller: credential checks and assigned-object lookups.
