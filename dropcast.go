// Package dropcast is the deployable root of the repository. The Cloud
// Functions Go buildpack builds the package at the source root; importing
// every function here registers them all, and each deployment picks its own
// by entry point (ingest, preprocess, load, predict, postprocess, export,
// notify, sweep, trigger, status).
package dropcast

import (
	_ "github.com/dropcast/dropcast/functions/export"
	_ "github.com/dropcast/dropcast/functions/ingest"
	_ "github.com/dropcast/dropcast/functions/load"
	_ "github.com/dropcast/dropcast/functions/notify"
	_ "github.com/dropcast/dropcast/functions/postprocess"
	_ "github.com/dropcast/dropcast/functions/predict"
	_ "github.com/dropcast/dropcast/functions/preprocess"
	_ "github.com/dropcast/dropcast/functions/status"
	_ "github.com/dropcast/dropcast/functions/sweep"
	_ "github.com/dropcast/dropcast/functions/trigger"
)
