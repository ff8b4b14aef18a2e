// Package spec reads pipeline specs: YAML files that say which uploaded objects a
// pipeline takes, how their CSV is cleaned, where it is loaded in BigQuery, which
// model predicts it and where results go. Several specs live in one deployment
// and are matched by object name.
package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/dropcast/dropcast/shared/schema"
)

// DefaultMatch takes incoming/YYYYMMDD-HHMMSS.csv (optionally gzipped).
const DefaultMatch = `^incoming/(?P<date>\d{8})-\d{6}\.csv(\.gz)?$`

// Write modes of the load step.
const (
	ReplacePartition = "replace_partition"
	Truncate         = "truncate"
	Append           = "append"
)

// Prediction backends and modes.
const (
	Vertex = "vertex"
	AutoML = "automl"
	Batch  = "batch"
	Online = "online"
)

// Pipeline is one pipeline spec.
type Pipeline struct {
	// Name identifies the pipeline; it prefixes run IDs, so it is short: [a-z0-9-].
	Name string `yaml:"name" json:"name"`
	// Match is a regular expression over object names; a named group "date"
	// (YYYYMMDD) gives the file's date. Default DefaultMatch.
	Match string `yaml:"match,omitempty" json:"match,omitempty"`

	schema.Schema `yaml:",inline" json:",inline"`

	Destination Destination `yaml:"destination" json:"destination"`
	Predict     Predict     `yaml:"predict" json:"predict"`
	Results     Results     `yaml:"results,omitempty" json:"results,omitempty"`
	Notify      Notify      `yaml:"notify,omitempty" json:"notify,omitempty"`

	match *regexp.Regexp
}

// Destination is the BigQuery table clean rows are loaded into.
type Destination struct {
	// Table is [PROJECT.]DATASET.TABLE.
	Table string `yaml:"table" json:"table"`
	// WriteMode is replace_partition (default), truncate or append.
	WriteMode string `yaml:"write_mode,omitempty" json:"write_mode,omitempty"`
	// PartitionField partitions by a DATE/TIMESTAMP column; empty partitions by
	// ingestion time, with the file's date as the partition.
	PartitionField string   `yaml:"partition_field,omitempty" json:"partition_field,omitempty"`
	Clustering     []string `yaml:"clustering,omitempty" json:"clustering,omitempty"`
}

// Predict says which model predicts the clean rows.
type Predict struct {
	// Backend is vertex (default) or automl.
	Backend string `yaml:"backend,omitempty" json:"backend,omitempty"`
	// Mode is batch (default) or online.
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Model is the model's resource name, projects/P/locations/L/models/M.
	Model string `yaml:"model" json:"model"`
	// LatencyTarget is the online mode's per-call latency target (default 1s).
	LatencyTarget Duration `yaml:"latency_target,omitempty" json:"latency_target,omitempty"`
}

// Results says where predictions land.
type Results struct {
	// Prefix is the object prefix in the results bucket (default "results/PIPELINE/").
	Prefix string `yaml:"prefix,omitempty" json:"prefix,omitempty"`
	// Table is [PROJECT.]DATASET.TABLE for result rows; empty skips the table.
	Table string `yaml:"table,omitempty" json:"table,omitempty"`
}

// Notify says which run outcomes are announced.
type Notify struct {
	OnSuccess *bool `yaml:"on_success,omitempty" json:"on_success,omitempty"`
	OnFailure *bool `yaml:"on_failure,omitempty" json:"on_failure,omitempty"`
}

// Duration is a time.Duration written as "1.5s" in specs.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)

// applyDefaults fills what the spec left out.
func (p *Pipeline) applyDefaults() {
	if p.Match == "" {
		p.Match = DefaultMatch
	}
	if p.Destination.WriteMode == "" {
		p.Destination.WriteMode = ReplacePartition
	}
	if p.Predict.Backend == "" {
		p.Predict.Backend = Vertex
	}
	if p.Predict.Mode == "" {
		p.Predict.Mode = Batch
	}
	if p.Predict.LatencyTarget.Duration == 0 {
		p.Predict.LatencyTarget.Duration = time.Second
	}
	if p.Results.Prefix == "" {
		p.Results.Prefix = "results/" + p.Name + "/"
	}
}

// validate lists every problem, with YAML paths.
func (p *Pipeline) validate() []schema.Problem {
	var ps []schema.Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, schema.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if !nameRE.MatchString(p.Name) {
		add("name", "%q: want 1-40 characters of a-z, 0-9 and -, starting with a letter", p.Name)
	}
	if re, err := regexp.Compile(p.Match); err != nil {
		add("match", "not a regular expression: %v", err)
	} else {
		p.match = re
		if re.SubexpIndex("date") < 0 && p.Destination.WriteMode == ReplacePartition {
			add("match", "needs a (?P<date>YYYYMMDD) group for write_mode %s", ReplacePartition)
		}
	}
	ps = append(ps, p.Schema.Validate()...)
	if parts := strings.Split(p.Destination.Table, "."); p.Destination.Table == "" || len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
		add("destination.table", "%q: want DATASET.TABLE or PROJECT.DATASET.TABLE", p.Destination.Table)
	}
	switch p.Destination.WriteMode {
	case ReplacePartition, Truncate, Append:
	default:
		add("destination.write_mode", "%q: want %s, %s or %s", p.Destination.WriteMode, ReplacePartition, Truncate, Append)
	}
	cols := map[string]bool{}
	for _, c := range p.Columns {
		cols[c.Name] = true
	}
	if f := p.Destination.PartitionField; f != "" && !cols[f] {
		add("destination.partition_field", "%q is not a column", f)
	}
	for i, c := range p.Destination.Clustering {
		if !cols[c] {
			add(fmt.Sprintf("destination.clustering[%d]", i), "%q is not a column", c)
		}
	}
	switch p.Predict.Backend {
	case Vertex, AutoML:
	default:
		add("predict.backend", "%q: want %s or %s", p.Predict.Backend, Vertex, AutoML)
	}
	switch p.Predict.Mode {
	case Batch, Online:
	default:
		add("predict.mode", "%q: want %s or %s", p.Predict.Mode, Batch, Online)
	}
	if !modelRE.MatchString(p.Predict.Model) {
		add("predict.model", "%q: want projects/P/locations/L/models/M", p.Predict.Model)
	}
	if t := p.Results.Table; t != "" {
		if parts := strings.Split(t, "."); len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
			add("results.table", "%q: want DATASET.TABLE or PROJECT.DATASET.TABLE", t)
		}
	}
	return ps
}

var modelRE = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/models/[^/]+$`)

// MatchObject reports whether the pipeline takes object, and the file's date
// (YYYYMMDD, empty when the pattern has no date group).
func (p *Pipeline) MatchObject(object string) (date string, ok bool) {
	m := p.match.FindStringSubmatch(object)
	if m == nil {
		return "", false
	}
	if i := p.match.SubexpIndex("date"); i >= 0 {
		date = m[i]
		if _, err := time.Parse("20060102", date); err != nil {
			return "", false
		}
	}
	return date, true
}

// NotifyOnSuccess reports whether successful runs are announced (default yes).
func (p *Pipeline) NotifyOnSuccess() bool { return p.Notify.OnSuccess == nil || *p.Notify.OnSuccess }

// NotifyOnFailure reports whether failed runs are announced (default yes).
func (p *Pipeline) NotifyOnFailure() bool { return p.Notify.OnFailure == nil || *p.Notify.OnFailure }
