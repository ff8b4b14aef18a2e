// Package infra makes the Terraform of dropcast readable from Go wherever a
// program runs: the IAM grants (iam.tf, whose local.sa_roles lists every
// role each service account holds and where) and the variables with their
// defaults (variables.tf). The local stack builds its IAM policy from them
// (shared/emulator/iamemu), so the emulators enforce what Terraform deploys.
package infra

import _ "embed"

// IAMTF is the text of infra/iam.tf.
//
//go:embed iam.tf
var IAMTF []byte

// VariablesTF is the text of infra/variables.tf.
//
//go:embed variables.tf
var VariablesTF []byte
