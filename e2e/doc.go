// Package e2e holds the end-to-end tests: each starts the local stack (every
// emulator and every function, in process), drops files into the inbox the
// way a user would, waits for the runs to end and checks what users look at —
// run records, results, BigQuery tables and emulator accounting.
package e2e
