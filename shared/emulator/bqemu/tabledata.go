package bqemu

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	bq "google.golang.org/api/bigquery/v2"
)

// defaultPageRows is the page size when maxResults is not given.
const defaultPageRows = 100000

// page is the slice of a result addressed by maxResults, pageToken and
// startIndex, and the token for the page after it.
type page struct {
	start, end int
	nextToken  string
}

// pageOf resolves paging parameters over n rows. tag ties tokens to one
// result so a token from another result is rejected.
func pageOf(n int, q url.Values, tag string) (page, error) {
	start := 0
	if tok := q.Get("pageToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		idx, ok := strings.CutPrefix(string(raw), tag+"@")
		if err != nil || !ok {
			return page{}, errInvalid("Invalid page token: %s", tok)
		}
		if start, err = strconv.Atoi(idx); err != nil || start < 0 {
			return page{}, errInvalid("Invalid page token: %s", tok)
		}
	} else if v := q.Get("startIndex"); v != "" {
		i, err := strconv.ParseUint(v, 10, 63)
		if err != nil {
			return page{}, errInvalid("Invalid value for startIndex: %s", v)
		}
		start = int(min(i, uint64(n)))
	}
	size := defaultPageRows
	if v := q.Get("maxResults"); v != "" {
		m, err := strconv.ParseUint(v, 10, 31)
		if err != nil {
			return page{}, errInvalid("Invalid value for maxResults: %s", v)
		}
		size = int(m)
	}
	start = min(start, n)
	p := page{start: start, end: min(n, start+size)}
	if p.end < n && size > 0 {
		p.nextToken = base64.RawURLEncoding.EncodeToString([]byte(tag + "@" + strconv.Itoa(p.end)))
	}
	return p, nil
}

// wireRows renders stored cells as f/v rows, NULL as {"v":null}.
func wireRows(fields []*bq.TableFieldSchema, rows [][]cell, useInt64 bool) []*bq.TableRow {
	out := make([]*bq.TableRow, len(rows))
	for i, r := range rows {
		tr := &bq.TableRow{F: make([]*bq.TableCell, len(fields))}
		for k, f := range fields {
			c := cell{null: true}
			if k < len(r) {
				c = r[k]
			}
			if c.null {
				tr.F[k] = &bq.TableCell{NullFields: []string{"V"}}
				continue
			}
			tr.F[k] = &bq.TableCell{V: wireValue(f.Type, c, useInt64)}
		}
		out[i] = tr
	}
	return out
}

func useInt64Timestamp(q url.Values) bool { return q.Get("formatOptions.useInt64Timestamp") == "true" }

// partitionRows returns the cells of a table's rows, or of one partition's.
func (t *table) partitionRows(partition string) [][]cell {
	var out [][]cell
	for _, r := range t.rows {
		if partition == "" || r.partition == partition {
			out = append(out, r.cells)
		}
	}
	return out
}

// listTableData implements tabledata.list, including partition decorators.
func (s *Server) listTableData(w http.ResponseWriter, r *http.Request) {
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
	q := r.URL.Query()
	if q.Get("selectedFields") != "" {
		s.writeError(w, r, errUnsupported("tabledata.list selectedFields"))
		return
	}
	rows := t.partitionRows(part)
	pg, err := pageOf(len(rows), q, t.fullID()+"$"+part)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := &bq.TableDataList{
		Kind:            "bigquery#tableDataList",
		Etag:            t.etag(),
		TotalRows:       int64(len(rows)),
		PageToken:       pg.nextToken,
		Rows:            wireRows(t.schema, rows[pg.start:pg.end], useInt64Timestamp(q)),
		ForceSendFields: []string{"TotalRows"},
	}
	writeJSON(w, http.StatusOK, out)
}

// Row is a stored row for direct inspection in tests.
type Row struct {
	// Partition is the row's DAY partition as YYYYMMDD, "__NULL__" for a
	// NULL partitioning value, or "" in an unpartitioned table.
	Partition string
	// Values are the row's values in schema order, in BigQuery's canonical
	// text form (TIMESTAMP as "2006-01-02 15:04:05.999999 UTC"); nil is NULL.
	Values []*string
}

// Rows returns a table's rows in storage order; a "t$YYYYMMDD" table name
// selects one partition.
func (s *Server) Rows(project, dataset, tableName string) ([]Row, error) {
	base, part, err := splitDecorator(tableName)
	if err != nil {
		return nil, fmt.Errorf("bqemu: rows of %s: %w", tableName, err)
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	t, err := s.store.tableLocked(project, dataset, base)
	if err != nil {
		return nil, fmt.Errorf("bqemu: rows of %s.%s.%s: %w", project, dataset, tableName, err)
	}
	var out []Row
	for _, r := range t.rows {
		if part != "" && r.partition != part {
			continue
		}
		vals := make([]*string, len(t.schema))
		for i, f := range t.schema {
			if i >= len(r.cells) || r.cells[i].null {
				continue
			}
			v := r.cells[i].v
			if f.Type == "TIMESTAMP" {
				us, _ := strconv.ParseInt(v, 10, 64)
				v = time.UnixMicro(us).UTC().Format("2006-01-02 15:04:05.999999") + " UTC"
			}
			vals[i] = &v
		}
		out = append(out, Row{Partition: r.partition, Values: vals})
	}
	return out, nil
}
