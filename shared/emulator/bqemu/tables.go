package bqemu

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	bq "google.golang.org/api/bigquery/v2"
)

// splitDecorator separates "t$20260426" into "t" and the partition id. The
// partition id is validated as a DAY partition (YYYYMMDD) or __NULL__.
func splitDecorator(tableID string) (string, string, error) {
	base, part, ok := strings.Cut(tableID, "$")
	if !ok {
		return tableID, "", nil
	}
	if part == nullPartition {
		return base, part, nil
	}
	if _, err := time.Parse("20060102", part); err != nil || len(part) != 8 {
		return "", "", errInvalid("Invalid table ID %q: partition decorator %q is not a valid DAY partition (YYYYMMDD)", tableID, part)
	}
	return base, part, nil
}

// checkPartitioning validates timePartitioning and clustering against a
// schema; partitioning may be nil.
func checkPartitioning(tp *bq.TimePartitioning, cl *bq.Clustering, fields []*bq.TableFieldSchema) error {
	if tp != nil {
		if tp.Type != "" && tp.Type != "DAY" {
			return errUnsupported("timePartitioning type %s; only DAY partitioning is emulated", tp.Type)
		}
		if tp.Field != "" {
			i := fieldIndex(fields, tp.Field)
			if i < 0 {
				return errInvalid("The field specified for partitioning cannot be found in the schema: %s", tp.Field)
			}
			switch fields[i].Type {
			case "DATE", "DATETIME", "TIMESTAMP":
			default:
				return errInvalid("Partitioning field %s has type %s; it must be DATE, DATETIME or TIMESTAMP", tp.Field, fields[i].Type)
			}
		}
	}
	if cl != nil {
		if len(cl.Fields) > 4 {
			return errInvalid("Too many clustering fields: %d, only 4 clustering fields are allowed", len(cl.Fields))
		}
		for _, name := range cl.Fields {
			i := fieldIndex(fields, name)
			if i < 0 {
				return errInvalid("The field specified for clustering cannot be found in the schema: %s", name)
			}
			if fields[i].Type == "FLOAT" {
				return errInvalid("Field %s is of type FLOAT which is not supported for clustering", name)
			}
		}
	}
	return nil
}

// newTable builds a table from a requested resource after validation.
func newTable(project, datasetID, tableID string, in *bq.Table, now time.Time) (*table, error) {
	if len(tableID) > 1024 || !tableIDPattern.MatchString(tableID) {
		return nil, errInvalid("Invalid table ID %q", tableID)
	}
	if in.View != nil || in.MaterializedView != nil || in.ExternalDataConfiguration != nil || in.RangePartitioning != nil {
		return nil, errUnsupported("views, external tables and range partitioning")
	}
	fields, err := normalizeSchema(in.Schema)
	if err != nil {
		return nil, err
	}
	if err := checkPartitioning(in.TimePartitioning, in.Clustering, fields); err != nil {
		return nil, err
	}
	t := &table{project: project, dataset: datasetID, id: tableID, schema: fields, created: now, modified: now, version: 1}
	t.meta = bq.Table{
		Description:            in.Description,
		FriendlyName:           in.FriendlyName,
		Labels:                 in.Labels,
		ExpirationTime:         in.ExpirationTime,
		Clustering:             in.Clustering,
		RequirePartitionFilter: in.RequirePartitionFilter,
	}
	if in.TimePartitioning != nil {
		tp := *in.TimePartitioning
		tp.Type = "DAY"
		t.meta.TimePartitioning = &tp
	}
	return t, nil
}

// partitionField is the column-partitioning field index, or -1 for
// ingestion-time or unpartitioned tables.
func (t *table) partitionField() int {
	if t.meta.TimePartitioning == nil || t.meta.TimePartitioning.Field == "" {
		return -1
	}
	return fieldIndex(t.schema, t.meta.TimePartitioning.Field)
}

func (t *table) ingestionPartitioned() bool {
	return t.meta.TimePartitioning != nil && t.meta.TimePartitioning.Field == ""
}

// resource is the wire form of the table, or of one partition's row count
// when partition != ""; the caller holds the store lock.
func (t *table) resource(endpoint, location, partition string) *bq.Table {
	out := t.meta
	out.Kind = "bigquery#table"
	out.Id = t.fullID()
	out.TableReference = &bq.TableReference{ProjectId: t.project, DatasetId: t.dataset, TableId: t.id}
	out.Schema = wireSchema(t.schema)
	out.Type = "TABLE"
	out.Location = location
	out.CreationTime = millis(t.created)
	out.LastModifiedTime = uint64(millis(t.modified))
	out.Etag = t.etag()
	out.SelfLink = endpoint + "projects/" + t.project + "/datasets/" + t.dataset + "/tables/" + t.id
	out.NumRows = uint64(t.numRows(partition))
	out.NumBytes = t.numBytes()
	out.ForceSendFields = []string{"NumRows", "NumBytes"}
	return &out
}

// insertTable implements tables.insert.
func (s *Server) insertTable(w http.ResponseWriter, r *http.Request) {
	project, datasetID := r.PathValue("project"), r.PathValue("dataset")
	var in bq.Table
	if err := readJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.TableReference == nil {
		s.writeError(w, r, errInvalid("Required parameter is missing: tableReference"))
		return
	}
	tableID := in.TableReference.TableId
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	ds, err := s.store.datasetLocked(project, datasetID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, ok := ds.tables[tableID]; ok {
		s.writeError(w, r, errDuplicate("Table %s:%s.%s", project, datasetID, tableID))
		return
	}
	t, err := newTable(project, datasetID, tableID, &in, s.now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ds.tables[tableID] = t
	writeJSON(w, http.StatusOK, t.resource(s.Endpoint(), ds.meta.Location, ""))
}

// getTable implements tables.get; a partition decorator reports that
// partition's row count.
func (s *Server) getTable(w http.ResponseWriter, r *http.Request) {
	base, part, err := splitDecorator(r.PathValue("table"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	t, err := s.store.tableLocked(r.PathValue("project"), r.PathValue("dataset"), base)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if part != "" && t.meta.TimePartitioning == nil {
		s.writeError(w, r, errInvalid("Cannot read partition information from a table that is not partitioned: %s$%s", t.fullID(), part))
		return
	}
	writeJSON(w, http.StatusOK, t.resource(s.Endpoint(), s.store.datasets[key(t.project, t.dataset)].meta.Location, part))
}

// patchTable implements tables.patch: only the fields present change.
func (s *Server) patchTable(w http.ResponseWriter, r *http.Request) { s.modifyTable(w, r, false) }

// updateTable implements tables.update: the resource is replaced.
func (s *Server) updateTable(w http.ResponseWriter, r *http.Request) { s.modifyTable(w, r, true) }

func (s *Server) modifyTable(w http.ResponseWriter, r *http.Request, replace bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeError(w, r, errInvalid("read body: %v", err))
		return
	}
	var in bq.Table
	present := map[string]json.RawMessage{}
	if err := json.Unmarshal(body, &in); err != nil {
		s.writeError(w, r, errInvalid("Invalid JSON payload received: %v", err))
		return
	}
	if err := json.Unmarshal(body, &present); err != nil {
		s.writeError(w, r, errInvalid("Invalid JSON payload received: %v", err))
		return
	}
	has := func(field string) bool { _, ok := present[field]; return ok || replace }
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	t, err := s.store.tableLocked(r.PathValue("project"), r.PathValue("dataset"), r.PathValue("table"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if match := r.Header.Get("If-Match"); match != "" && match != t.etag() {
		s.writeError(w, r, errPrecondition("Precondition check failed."))
		return
	}
	next := *t
	if has("schema") && in.Schema != nil {
		proposed, err := normalizeSchema(in.Schema)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		merged, err := evolveSchema(t.fullID(), t.schema, proposed, evolution{allowAddition: true, allowRelaxation: true})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		next.schema = merged
	}
	if has("timePartitioning") && !samePartitioning(in.TimePartitioning, t.meta.TimePartitioning) {
		s.writeError(w, r, errInvalid("Cannot change partitioning spec for table %s", t.fullID()))
		return
	}
	if has("description") {
		next.meta.Description = in.Description
	}
	if has("friendlyName") {
		next.meta.FriendlyName = in.FriendlyName
	}
	if has("labels") {
		next.meta.Labels = in.Labels
	}
	if has("expirationTime") {
		next.meta.ExpirationTime = in.ExpirationTime
	}
	if has("requirePartitionFilter") {
		next.meta.RequirePartitionFilter = in.RequirePartitionFilter
	}
	if has("clustering") {
		next.meta.Clustering = in.Clustering
	}
	if err := checkPartitioning(next.meta.TimePartitioning, next.meta.Clustering, next.schema); err != nil {
		s.writeError(w, r, err)
		return
	}
	next.touch(s.now())
	*t = next
	writeJSON(w, http.StatusOK, t.resource(s.Endpoint(), s.store.datasets[key(t.project, t.dataset)].meta.Location, ""))
}

// samePartitioning compares partitioning specs, ignoring expiration.
func samePartitioning(a, b *bq.TimePartitioning) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return (a.Type == "" || a.Type == b.Type) && strings.EqualFold(a.Field, b.Field)
}

// deleteTable implements tables.delete.
func (s *Server) deleteTable(w http.ResponseWriter, r *http.Request) {
	project, datasetID, tableID := r.PathValue("project"), r.PathValue("dataset"), r.PathValue("table")
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if _, err := s.store.tableLocked(project, datasetID, tableID); err != nil {
		s.writeError(w, r, err)
		return
	}
	delete(s.store.datasets[key(project, datasetID)].tables, tableID)
	w.WriteHeader(http.StatusNoContent)
}

// listTables implements tables.list (a single page).
func (s *Server) listTables(w http.ResponseWriter, r *http.Request) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	ds, err := s.store.datasetLocked(r.PathValue("project"), r.PathValue("dataset"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := &bq.TableList{Kind: "bigquery#tableList"}
	for _, t := range ds.tables {
		out.Tables = append(out.Tables, &bq.TableListTables{
			Kind:             "bigquery#table",
			Id:               t.fullID(),
			TableReference:   &bq.TableReference{ProjectId: t.project, DatasetId: t.dataset, TableId: t.id},
			Type:             "TABLE",
			CreationTime:     millis(t.created),
			TimePartitioning: t.meta.TimePartitioning,
			Clustering:       t.meta.Clustering,
			Labels:           t.meta.Labels,
			FriendlyName:     t.meta.FriendlyName,
		})
	}
	sort.Slice(out.Tables, func(i, j int) bool { return out.Tables[i].Id < out.Tables[j].Id })
	out.TotalItems = int64(len(out.Tables))
	writeJSON(w, http.StatusOK, out)
}
