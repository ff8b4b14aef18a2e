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
	"unicode"
	"unicode/utf8"

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

	schema.Schema `yaml:",inline"`

	Destination Destination `yaml:"destination" json:"destination"`
	Predict     Predict     `yaml:"predict" json:"predict"`
	Results     Results     `yaml:"results,omitempty" json:"results,omitempty"`
	Notify      Notify      `yaml:"notify,omitempty" json:"notify,omitempty"`
	// Schedules start runs without a file, from BigQuery, on a cron schedule.
	Schedules []Schedule `yaml:"schedules,omitempty" json:"schedules,omitempty"`

	match *regexp.Regexp
}

// Schedule is a run started by Cloud Scheduler rather than by a file: it
// exports a BigQuery table or query as the run's clean rows, then predicts
// and postprocesses them like a file's.
type Schedule struct {
	// Name identifies the schedule: [a-z][a-z0-9-]*, unique in the spec.
	Name string `yaml:"name" json:"name"`
	// Cron is the schedule in unix-cron form ("0 6 * * *"), read by Terraform.
	Cron string `yaml:"cron" json:"cron"`
	// TimeZone is the IANA zone of Cron and of the run's date (default UTC).
	TimeZone string `yaml:"time_zone,omitempty" json:"time_zone,omitempty"`
	// Table ([PROJECT.]DATASET.TABLE) or Query gives the rows; a query may use
	// {date}, the scheduled day as YYYY-MM-DD. Columns are matched by name.
	Table string `yaml:"table,omitempty" json:"table,omitempty"`
	Query string `yaml:"query,omitempty" json:"query,omitempty"`
}

// Location is the schedule's time zone.
func (s Schedule) Location() *time.Location {
	if loc, err := time.LoadLocation(s.TimeZone); err == nil && s.TimeZone != "" {
		return loc
	}
	return time.UTC
}

// Schedule returns the schedule named name.
func (p *Pipeline) Schedule(name string) (Schedule, bool) {
	for _, s := range p.Schedules {
		if s.Name == name {
			return s, true
		}
	}
	return Schedule{}, false
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
	// Model is the model's resource name, projects/P/locations/L/models/M
	// (the project by ID or by number).
	Model string `yaml:"model" json:"model"`
	// Target is the column the model predicts. The model service names its
	// prediction columns after it (<target>_<class>_score, predicted_<target>);
	// absent, postprocess reads it from those names, which is ambiguous only
	// when every class name shares an "_"-separated prefix.
	Target string `yaml:"target,omitempty" json:"target,omitempty"`
	// LatencyTarget is the online mode's per-call latency target (default 1s).
	LatencyTarget Duration `yaml:"latency_target,omitempty" json:"latency_target,omitempty"`
}

// Results says where predictions land and what a result row holds: the
// selected spec columns (renamed as asked), then the metadata columns
// (ResultMetadataColumns), with score_<class> columns after score when
// Scores is all. The results CSV and the results table share this layout.
type Results struct {
	// Prefix is the object prefix in the results bucket (default "results/PIPELINE/").
	Prefix string `yaml:"prefix,omitempty" json:"prefix,omitempty"`
	// Table is [PROJECT.]DATASET.TABLE for result rows; empty skips the table.
	Table string `yaml:"table,omitempty" json:"table,omitempty"`
	// Columns are the spec columns result rows carry, in this order, each
	// optionally renamed. Absent: every spec column in spec order; an empty
	// list keeps none (only the metadata columns).
	Columns []ResultColumn `yaml:"columns,omitempty" json:"columns,omitempty"`
	// Scores is top (default: the top class's score in score) or all (also
	// one score_<class> column per class the model reports).
	Scores string `yaml:"scores,omitempty" json:"scores,omitempty"`
	// Round is how many decimals scores keep (0-15); absent keeps every digit.
	Round *int `yaml:"round,omitempty" json:"round,omitempty"`
	// NeutralizeFormulas prefixes ' to STRING cells that start with =, +, -,
	// @, tab or carriage return (and are not plain numbers), so spreadsheets
	// do not run them as formulas. The results table holds the same cells.
	NeutralizeFormulas bool `yaml:"neutralize_formulas,omitempty" json:"neutralize_formulas,omitempty"`
}

// ResultColumn selects a spec column for results.
type ResultColumn struct {
	// Name is the spec column.
	Name string `yaml:"name" json:"name"`
	// As renames it in results (default Name).
	As string `yaml:"as,omitempty" json:"as,omitempty"`
}

// Output is the column's name in results.
func (c ResultColumn) Output() string {
	if c.As != "" {
		return c.As
	}
	return c.Name
}

// Values of results.scores.
const (
	ScoresTop = "top"
	ScoresAll = "all"
)

// ScoreColumnPrefix starts the per-class score columns of scores: all.
const ScoreColumnPrefix = "score_"

// MaxRound is the most decimals results.round may ask for.
const MaxRound = 15

// ResultMetadataColumns are the columns every result row ends with, in order
// (score_<class> columns, when asked for, follow score).
func ResultMetadataColumns() []string {
	return []string{"prediction", "score", "run_id", "source_file", "model", "predicted_at", "source_line"}
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
	if p.Results.Columns == nil {
		p.Results.Columns = make([]ResultColumn, 0, len(p.Columns))
		for _, c := range p.Columns {
			p.Results.Columns = append(p.Results.Columns, ResultColumn{Name: c.Name})
		}
	}
	if p.Results.Scores == "" {
		p.Results.Scores = ScoresTop
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
	seen := map[string]bool{}
	for i, sc := range p.Schedules {
		at := fmt.Sprintf("schedules[%d]", i)
		switch {
		case !scheduleNameRE.MatchString(sc.Name):
			add(at+".name", "%q: want 1-30 characters of a-z, 0-9 and -, starting with a letter", sc.Name)
		case seen[sc.Name]:
			add(at+".name", "duplicate schedule %q", sc.Name)
		}
		seen[sc.Name] = true
		if len(strings.Fields(sc.Cron)) != 5 {
			add(at+".cron", "%q: want five unix-cron fields, like \"0 6 * * *\"", sc.Cron)
		}
		if sc.TimeZone != "" {
			if _, err := time.LoadLocation(sc.TimeZone); err != nil {
				add(at+".time_zone", "%q is not an IANA time zone", sc.TimeZone)
			}
		}
		if (sc.Table == "") == (sc.Query == "") {
			add(at, "set exactly one of table and query")
		}
	}
	if t := p.Results.Table; t != "" {
		if parts := strings.Split(t, "."); len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
			add("results.table", "%q: want DATASET.TABLE or PROJECT.DATASET.TABLE", t)
		}
	}
	ps = append(ps, p.Results.validate(cols)...)
	return ps
}

// validate lists the problems of the results section; cols are the spec's columns.
func (r *Results) validate(cols map[string]bool) []schema.Problem {
	var ps []schema.Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, schema.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	switch r.Scores {
	case ScoresTop, ScoresAll:
	default:
		add("results.scores", "%q: want %s or %s", r.Scores, ScoresTop, ScoresAll)
	}
	if r.Round != nil && (*r.Round < 0 || *r.Round > MaxRound) {
		add("results.round", "%d: want 0 to %d decimals", *r.Round, MaxRound)
	}
	taken := map[string]string{}
	for _, m := range ResultMetadataColumns() {
		taken[strings.ToLower(m)] = "a metadata column of results (rename it with as)"
	}
	for i, c := range r.Columns {
		at := fmt.Sprintf("results.columns[%d]", i)
		if !cols[c.Name] {
			add(at+".name", "%q is not a column", c.Name)
			continue
		}
		out, outPath := c.Output(), at+".name"
		if c.As != "" {
			outPath = at + ".as"
			if !bigQueryName(c.As) {
				add(outPath, "%q is not a BigQuery column name (letters, digits and _, not starting with a digit)", c.As)
				continue
			}
		}
		key := strings.ToLower(out)
		if prev, ok := taken[key]; ok {
			add(outPath, "%q is already %s", out, prev)
			continue
		}
		if r.Scores == ScoresAll && strings.HasPrefix(key, ScoreColumnPrefix) {
			add(outPath, "%q: names starting with %s are taken by scores: %s", out, ScoreColumnPrefix, ScoresAll)
			continue
		}
		taken[key] = "the name of " + at
	}
	return ps
}

// bigQueryName reports a usable BigQuery column name, by the rule the schema
// applies to spec columns: letters, marks, digits and underscores, not
// starting with a digit or mark, at most 300 characters.
func bigQueryName(n string) bool {
	if n == "" || utf8.RuneCountInString(n) > 300 {
		return false
	}
	for i, r := range n {
		switch {
		case r == '_', unicode.IsLetter(r), i > 0 && (unicode.IsMark(r) || unicode.IsDigit(r)):
		default:
			return false
		}
	}
	return true
}

var scheduleNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,29}$`)

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
