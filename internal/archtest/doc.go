// Package archtest holds a test that keeps the "must not import" column of
// ARCHITECTURE.md true: domain packages stay free of the technologies their
// adapters wrap. Add a rule when a package gains such a column.
package archtest
