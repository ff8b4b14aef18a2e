package bqemu

import (
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

	bq "google.golang.org/api/bigquery/v2"
)

// store is the emulator's whole state; mu guards everything reachable from it.
type store struct {
	mu       sync.Mutex
	datasets map[string]*dataset
	jobs     map[string]*job
}

type dataset struct {
	project  string
	id       string
	meta     bq.Dataset
	modified time.Time
	tables   map[string]*table
}

// table is a table's metadata and its rows. Rows are kept aligned with the
// schema by position; a row shorter than the schema has NULLs at the end
// (columns added after it was written).
type table struct {
	project  string
	dataset  string
	id       string
	meta     bq.Table
	schema   []*bq.TableFieldSchema
	created  time.Time
	modified time.Time
	version  int
	rows     []row
}

// row is one stored row and the partition it lives in ("" when the table is
// not partitioned, "__NULL__" for a NULL partitioning column, otherwise the
// day as YYYYMMDD).
type row struct {
	partition string
	cells     []cell
}

// cell is one stored value in canonical text form; TIMESTAMPs are kept as
// microseconds since the epoch.
type cell struct {
	null bool
	v    string
}

func newStore() *store {
	return &store{datasets: map[string]*dataset{}, jobs: map[string]*job{}}
}

func key(project, id string) string { return project + "\x00" + id }

var (
	datasetIDPattern = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	tableIDPattern   = regexp.MustCompile(`^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]+$`)
)

// datasetLocked returns the dataset or a notFound error; s.mu must be held.
func (s *store) datasetLocked(project, id string) (*dataset, error) {
	ds, ok := s.datasets[key(project, id)]
	if !ok {
		return nil, errNotFound("Dataset %s:%s", project, id)
	}
	return ds, nil
}

// tableLocked returns the table or a notFound error; s.mu must be held.
func (s *store) tableLocked(project, datasetID, tableID string) (*table, error) {
	ds, err := s.datasetLocked(project, datasetID)
	if err != nil {
		return nil, err
	}
	t, ok := ds.tables[tableID]
	if ok && t.meta.ExpirationTime > 0 && time.Now().UnixMilli() >= t.meta.ExpirationTime {
		// A table's expiration is "the time at which this table expires,
		// at which point it will be deleted" (BigQuery client reference,
		// TableExtensions.SetExpirationTime).
		delete(ds.tables, tableID)
		ok = false
	}
	if !ok {
		return nil, errNotFound("Table %s:%s.%s", project, datasetID, tableID)
	}
	return t, nil
}

// fullID is the project:dataset.table form BigQuery uses in messages.
func (t *table) fullID() string { return fmt.Sprintf("%s:%s.%s", t.project, t.dataset, t.id) }

// etag is a version tag that changes with every metadata or data change.
func (t *table) etag() string { return strconv.Itoa(t.version) }

// touch records a change at now.
func (t *table) touch(now time.Time) {
	t.modified = now
	t.version++
}

// numRows counts the rows, or those of one partition when partition != "".
func (t *table) numRows(partition string) int {
	if partition == "" {
		return len(t.rows)
	}
	n := 0
	for _, r := range t.rows {
		if r.partition == partition {
			n++
		}
	}
	return n
}

// numBytes estimates logical bytes the way BigQuery sizes types.
func (t *table) numBytes() int64 {
	var n int64
	for _, r := range t.rows {
		for i, c := range r.cells {
			if c.null || i >= len(t.schema) {
				continue
			}
			switch t.schema[i].Type {
			case "STRING", "BYTES":
				n += 2 + int64(len(c.v))
			case "NUMERIC":
				n += 16
			default:
				n += 8
			}
		}
	}
	return n
}

func millis(t time.Time) int64 { return t.UnixMilli() }
