package bqemu

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	bq "google.golang.org/api/bigquery/v2"
)

// maxRowErrors caps the per-row errors reported in status.errors.
const maxRowErrors = 100

// loadSpec is a load configuration resolved against defaults.
type loadSpec struct {
	cfg        *bq.JobConfigurationLoad
	project    string
	dataset    string
	table      string
	partition  string
	write      string
	create     string
	dialect    csvDialect
	nullMarker string
	latin1     bool
}

// executeLoad runs a load job: read the sources, then validate and apply
// them to the destination in one step so a failed job changes nothing.
func (s *Server) executeLoad(j *job) {
	j.load = &bq.JobStatistics3{ForceSendFields: []string{"InputFiles", "InputFileBytes", "OutputRows", "OutputBytes", "BadRecords"}}
	spec, err := resolveLoad(j.project, j.config.Load)
	if err != nil {
		j.fail(err)
		return
	}
	if err := s.checkLoadSources(j); err != nil {
		j.fail(err)
		return
	}
	files, err := readSources(s.ctx, s.opts.Storage, spec.cfg.SourceUris)
	if err != nil {
		j.fail(err)
		return
	}
	for _, f := range files {
		j.load.InputFiles++
		j.load.InputFileBytes += int64(len(f.data))
	}
	warnings, err := s.applyLoad(spec, files, j.load)
	if err != nil {
		j.fail(err, warnings...)
		return
	}
	j.errs = warnings
}

// resolveLoad applies BigQuery's defaults and rejects unsupported options.
func resolveLoad(project string, cfg *bq.JobConfigurationLoad) (*loadSpec, error) {
	if f := strings.ToUpper(cfg.SourceFormat); f != "" && f != "CSV" {
		return nil, errUnsupported("sourceFormat %s; only CSV loads are emulated", cfg.SourceFormat)
	}
	if cfg.DateFormat != "" || cfg.DatetimeFormat != "" || cfg.TimeFormat != "" || cfg.TimestampFormat != "" || cfg.TimeZone != "" {
		return nil, errUnsupported("custom date/time formats and time zones in loads")
	}
	if m := strings.ToUpper(cfg.SourceColumnMatch); m != "" && m != "POSITION" {
		return nil, errUnsupported("sourceColumnMatch %s; columns are matched by position", cfg.SourceColumnMatch)
	}
	if cfg.HivePartitioningOptions != nil || cfg.RangePartitioning != nil || cfg.SchemaInline != "" {
		return nil, errUnsupported("hive partitioning, range partitioning and inline schemas")
	}
	if cfg.NullMarker != "" && len(cfg.NullMarkers) > 0 {
		return nil, errInvalid("Only one of nullMarker and nullMarkers can be set")
	}
	spec := &loadSpec{cfg: cfg, project: cfg.DestinationTable.ProjectId, dataset: cfg.DestinationTable.DatasetId,
		write: cfg.WriteDisposition, create: cfg.CreateDisposition, nullMarker: cfg.NullMarker}
	if spec.project == "" {
		spec.project = project
	}
	base, part, err := splitDecorator(cfg.DestinationTable.TableId)
	if err != nil {
		return nil, err
	}
	spec.table, spec.partition = base, part
	if spec.write == "" {
		spec.write = "WRITE_APPEND"
	}
	if spec.create == "" {
		spec.create = "CREATE_IF_NEEDED"
	}
	switch spec.write {
	case "WRITE_APPEND", "WRITE_TRUNCATE", "WRITE_EMPTY":
	default:
		return nil, errInvalid("Invalid value for writeDisposition: %s", spec.write)
	}
	switch spec.create {
	case "CREATE_IF_NEEDED", "CREATE_NEVER":
	default:
		return nil, errInvalid("Invalid value for createDisposition: %s", spec.create)
	}
	if len(cfg.SchemaUpdateOptions) > 0 && !(spec.write == "WRITE_APPEND" || (spec.write == "WRITE_TRUNCATE" && part != "")) {
		return nil, errInvalid("Schema update options should only be specified with WRITE_APPEND disposition, or with WRITE_TRUNCATE disposition on a table partition.")
	}
	spec.dialect = csvDialect{delimiter: cfg.FieldDelimiter, quote: '"', allowQuotedNewlines: cfg.AllowQuotedNewlines}
	switch cfg.FieldDelimiter {
	case "":
		spec.dialect.delimiter = ","
	case `\t`, "tab":
		spec.dialect.delimiter = "\t"
	}
	if cfg.Quote != nil {
		switch len(*cfg.Quote) {
		case 0:
			spec.dialect.quote = 0
		case 1:
			spec.dialect.quote = (*cfg.Quote)[0]
		default:
			return nil, errInvalid("Invalid quote character %q: it must be a single byte", *cfg.Quote)
		}
	}
	switch strings.ToUpper(cfg.Encoding) {
	case "", "UTF-8", "UTF8":
	case "ISO-8859-1":
		spec.latin1 = true
	default:
		return nil, errUnsupported("encoding %s", cfg.Encoding)
	}
	return spec, nil
}

// loadTarget is the destination as it will be after the load commits.
type loadTarget struct {
	table  *table
	isNew  bool
	schema []*bq.TableFieldSchema // destination schema after the load
	parse  []*bq.TableFieldSchema // schema the CSV columns are read with
}

// applyLoad validates the load against the destination and, if it passes,
// commits it under the store lock. It returns the per-row warnings for bad
// records that were skipped (or that failed the job).
func (s *Server) applyLoad(spec *loadSpec, files []sourceFile, stats *bq.JobStatistics3) ([]*bq.ErrorProto, error) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	ds, err := s.store.datasetLocked(spec.project, spec.dataset)
	if err != nil {
		return nil, err
	}
	target, err := s.resolveTarget(ds, spec)
	if err != nil {
		return nil, err
	}
	rows, warnings, err := parseFiles(spec, target, files)
	stats.BadRecords = int64(len(warnings))
	if err != nil {
		return warnings, err
	}
	if err := s.assignPartitions(spec, target, rows); err != nil {
		return warnings, err
	}
	t := target.table
	if target.isNew {
		ds.tables[t.id] = t
	}
	t.schema = target.schema
	switch {
	case spec.write == "WRITE_TRUNCATE" && spec.partition != "":
		kept := t.rows[:0:0]
		for _, r := range t.rows {
			if r.partition != spec.partition {
				kept = append(kept, r)
			}
		}
		t.rows = kept
	case spec.write == "WRITE_TRUNCATE":
		t.rows = nil
	}
	t.rows = append(t.rows, rows...)
	t.touch(s.now())
	stats.OutputRows = int64(len(rows))
	for _, r := range rows {
		for _, c := range r.cells {
			stats.OutputBytes += int64(len(c.v))
		}
	}
	return warnings, nil
}

// resolveTarget finds or plans the destination table and the schemas the
// load reads and writes with; s.store.mu is held.
func (s *Server) resolveTarget(ds *dataset, spec *loadSpec) (*loadTarget, error) {
	cfg := spec.cfg
	loadSchema, err := normalizeSchema(cfg.Schema)
	if err != nil {
		return nil, err
	}
	if cfg.Schema != nil && len(loadSchema) == 0 {
		loadSchema = nil
	}
	t, ok := ds.tables[spec.table]
	if !ok {
		if spec.create == "CREATE_NEVER" {
			return nil, errNotFound("Table %s:%s.%s", spec.project, spec.dataset, spec.table)
		}
		if loadSchema == nil {
			if cfg.Autodetect {
				return nil, errUnsupported("schema autodetection; give the load an explicit schema")
			}
			return nil, errInvalid("No schema specified on job or table.")
		}
		if spec.partition != "" && cfg.TimePartitioning == nil {
			return nil, errInvalid("Partitioning specification must be provided in order to create partitioned table")
		}
		nt, err := newTable(spec.project, spec.dataset, spec.table, &bq.Table{
			Schema: wireSchema(loadSchema), TimePartitioning: cfg.TimePartitioning, Clustering: cfg.Clustering,
		}, s.now())
		if err != nil {
			return nil, err
		}
		return &loadTarget{table: nt, isNew: true, schema: nt.schema, parse: nt.schema}, nil
	}
	if cfg.TimePartitioning != nil && !samePartitioning(cfg.TimePartitioning, t.meta.TimePartitioning) {
		return nil, errInvalid("Incompatible table partitioning specification. Destination table %s has partitioning %s, but the job specifies %s", t.fullID(), describePartitioning(t.meta.TimePartitioning), describePartitioning(cfg.TimePartitioning))
	}
	if spec.partition != "" && t.meta.TimePartitioning == nil {
		return nil, errInvalid("Incompatible table partitioning specification. Destination table %s is not partitioned, but the job names partition %s", t.fullID(), spec.partition)
	}
	if spec.partition == nullPartition && t.ingestionPartitioned() {
		return nil, errInvalid("Partition %s does not exist in ingestion-time partitioned table %s", nullPartition, t.fullID())
	}
	target := &loadTarget{table: t, schema: t.schema, parse: t.schema}
	switch {
	case loadSchema == nil:
	case spec.write == "WRITE_TRUNCATE" && spec.partition == "":
		if err := checkPartitioning(t.meta.TimePartitioning, t.meta.Clustering, loadSchema); err != nil {
			return nil, err
		}
		target.schema, target.parse = loadSchema, loadSchema
	default:
		ev := evolution{}
		for _, o := range cfg.SchemaUpdateOptions {
			switch o {
			case "ALLOW_FIELD_ADDITION":
				ev.allowAddition = true
			case "ALLOW_FIELD_RELAXATION":
				ev.allowRelaxation = true
			default:
				return nil, errInvalid("Invalid schema update option: %s", o)
			}
		}
		merged, err := evolveSchema(t.fullID(), t.schema, loadSchema, ev)
		if err != nil {
			return nil, err
		}
		target.schema, target.parse = merged, loadSchema
	}
	if spec.write == "WRITE_EMPTY" && t.numRows(spec.partition) > 0 {
		name := t.fullID()
		if spec.partition != "" {
			name += "$" + spec.partition
		}
		return nil, errDuplicate("Table %s", name)
	}
	return target, nil
}

func describePartitioning(tp *bq.TimePartitioning) string {
	switch {
	case tp == nil:
		return "none"
	case tp.Field == "":
		return "DAY(_PARTITIONTIME)"
	default:
		return "DAY(" + tp.Field + ")"
	}
}

// parseFiles converts every data row of every file, skipping the leading
// rows of each file. Bad records are collected; more than maxBadRecords of
// them fail the load.
func parseFiles(spec *loadSpec, target *loadTarget, files []sourceFile) ([]row, []*bq.ErrorProto, error) {
	mapping := make([]int, len(target.parse))
	for i, f := range target.parse {
		mapping[i] = fieldIndex(target.schema, f.Name)
	}
	var (
		rows     []row
		warnings []*bq.ErrorProto
		seen     int
	)
	for _, f := range files {
		data := f.data
		if spec.latin1 {
			data = latin1ToUTF8(data)
		}
		rd := newCSVReader(data, spec.dialect)
		for skipped := int64(0); ; {
			rec, err := rd.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err == nil && skipped < spec.cfg.SkipLeadingRows {
				skipped++
				continue
			}
			seen++
			var cells []cell
			if err == nil {
				cells, err = convertRecord(spec, target, mapping, rec)
			}
			if err == nil {
				rows = append(rows, row{cells: cells})
				continue
			}
			if len(warnings) < maxRowErrors {
				warnings = append(warnings, &bq.ErrorProto{Reason: "invalid", Location: f.uri, Message: "Error while reading data, error message: " + err.Error()})
			}
			if int64(len(warnings)) > spec.cfg.MaxBadRecords {
				giveUp := &apiError{code: 400, reason: "invalid", location: f.uri, message: fmt.Sprintf(
					"Error while reading data, error message: CSV table encountered too many errors, giving up. Rows: %d; errors: %d. Please look into the errors[] collection for more details.",
					seen, len(warnings))}
				return nil, warnings, giveUp
			}
		}
	}
	return rows, warnings, nil
}

// convertRecord checks one CSV record against the parse schema and lays its
// values out in destination-schema order.
func convertRecord(spec *loadSpec, target *loadTarget, mapping []int, rec csvRecord) ([]cell, error) {
	fields := rec.fields
	want := len(target.parse)
	if len(fields) > want {
		if !spec.cfg.IgnoreUnknownValues {
			return nil, fmt.Errorf("Too many values in row starting at position: %d. Found %d column(s) while expected %d.", rec.offset, len(fields), want)
		}
		fields = fields[:want]
	}
	if len(fields) < want && !spec.cfg.AllowJaggedRows {
		return nil, fmt.Errorf("CSV table references column position %d, but line starting at position:%d contains only %d columns.", want-1, rec.offset, len(fields))
	}
	cells := make([]cell, len(target.schema))
	for i := range cells {
		cells[i] = cell{null: true}
	}
	for i, f := range target.parse {
		raw, present, quoted := "", i < len(fields), false
		if present {
			raw, quoted = fields[i], rec.quoted[i]
		}
		c, err := convertField(spec, f, raw, present, quoted)
		if err != nil {
			return nil, fmt.Errorf("Could not parse '%s' as %s for field %s (position %d) starting at location %d  with message '%v'", raw, sqlTypeName(f.Type), f.Name, i, rec.offset, err)
		}
		if c.null && f.Mode == "REQUIRED" {
			return nil, fmt.Errorf("Required column value for column index: %d is missing in row starting at position: %d", i, rec.offset)
		}
		cells[mapping[i]] = c
	}
	return cells, nil
}

// convertField applies the null marker and the type's parser to one value.
// A quoted empty field in a STRING or BYTES column is the empty string, not
// NULL (undocumented; see fixture bigquery-null-marker); in other columns
// it is NULL like an unquoted one.
func convertField(spec *loadSpec, f *bq.TableFieldSchema, raw string, present, quoted bool) (cell, error) {
	stringy := f.Type == "STRING" || f.Type == "BYTES"
	if quoted && raw == "" && stringy {
		return cell{v: ""}, nil
	}
	if !present || raw == spec.nullMarker || slices.Contains(spec.cfg.NullMarkers, raw) {
		return cell{null: true}, nil
	}
	if raw == "" && !stringy {
		return cell{}, errUnparsable
	}
	v, err := parseCSVValue(f.Type, raw)
	if err != nil {
		return cell{}, err
	}
	return cell{v: v}, nil
}

// assignPartitions sets each row's partition and enforces that a decorated
// load only writes rows of that partition.
func (s *Server) assignPartitions(spec *loadSpec, target *loadTarget, rows []row) error {
	t := target.table
	switch {
	case t.meta.TimePartitioning == nil:
		return nil
	case t.ingestionPartitioned():
		p := spec.partition
		if p == "" {
			p = s.now().UTC().Format("20060102")
		}
		for i := range rows {
			rows[i].partition = p
		}
		return nil
	}
	pf := fieldIndex(target.schema, t.meta.TimePartitioning.Field)
	typ := target.schema[pf].Type
	for i := range rows {
		p := partitionOfValue(typ, rows[i].cells[pf])
		if spec.partition != "" && p != spec.partition {
			return errInvalid("Some rows belong to different partitions rather than destination partition %s", spec.partition)
		}
		rows[i].partition = p
	}
	return nil
}
