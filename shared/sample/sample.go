// Package sample holds the bundled demo: a pipeline spec and a day's purchases
// CSV, which `dropcast local` runs when it is given no input.
package sample

import _ "embed"

// SpecName is the spec's file name.
const SpecName = "purchases.yaml"

// FileName is the sample CSV's name; uploaded as incoming/FileName.
const FileName = "20260426-120000.csv"

// Spec is the sample pipeline spec.
//
//go:embed purchases.yaml
var Spec []byte

// CSV is a day of purchases, with a few bad rows, quoted commas, doubled
// quotes, an embedded newline and CRLF line ends.
//
//go:embed 20260426-120000.csv
var CSV []byte

// Project is the project the sample spec's model lives in locally.
const Project = "dropcast-local"

// ModelID is the demo model's ID in the local prediction emulators.
const ModelID = "demo-returns"
