package bqemu

import (
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	bq "google.golang.org/api/bigquery/v2"
)

// queryResult is a finished query's schema and rows.
type queryResult struct {
	schema         []*bq.TableFieldSchema
	rows           [][]cell
	bytesProcessed int64
	// script is set for a multi-statement query (statement type SCRIPT).
	script bool
}

// column is a resolved expr: its type, output name and how to read it.
type column struct {
	typ  string
	name string
	get  func(r row) cell
}

// evalQuery parses and runs a query against the store.
func (s *Server) evalQuery(project string, defaultDS *bq.DatasetReference, sql string, params map[string]literal) (*queryResult, error) {
	if isScript(sql) {
		stmts, err := parseScript(sql, params)
		if err != nil {
			return nil, err
		}
		res, err := s.runScript(project, defaultDS, stmts)
		if res != nil {
			res.script = true
		}
		return res, err
	}
	st, err := parseSelectWith(sql, params)
	if err != nil {
		return nil, err
	}
	if st.constant != nil {
		name := st.items[0].alias
		if name == "" {
			name = "f0_"
		}
		return &queryResult{
			schema: []*bq.TableFieldSchema{{Name: name, Type: "INTEGER", Mode: "NULLABLE"}},
			rows:   [][]cell{{{v: st.constant.v}}},
		}, nil
	}
	tp, err := qualify(project, defaultDS, st.path)
	if err != nil {
		return nil, err
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	t, err := s.store.tableLocked(tp[0], tp[1], tp[2])
	if err != nil {
		return nil, errNotFound("Table %s:%s.%s was not found in location US", tp[0], tp[1], tp[2])
	}
	filter, err := compileWhere(t, st.where)
	if err != nil {
		return nil, err
	}
	var matched []row
	for _, r := range t.rows {
		if filter(r) {
			matched = append(matched, r)
		}
	}
	res := &queryResult{bytesProcessed: t.numBytes()}
	if err := projectRows(t, st, matched, res); err != nil {
		return nil, err
	}
	if st.limit >= 0 && int64(len(res.rows)) > st.limit {
		res.rows = res.rows[:st.limit]
	}
	return res, nil
}

// qualify completes a table path with the job's project and default dataset.
func qualify(project string, defaultDS *bq.DatasetReference, path []string) ([3]string, error) {
	switch len(path) {
	case 3:
		return [3]string{path[0], path[1], path[2]}, nil
	case 2:
		return [3]string{project, path[0], path[1]}, nil
	}
	if defaultDS == nil || defaultDS.DatasetId == "" {
		return [3]string{}, errInvalidQuery("Table %q must be qualified with a dataset (e.g. dataset.table).", path[0])
	}
	p := defaultDS.ProjectId
	if p == "" {
		p = project
	}
	return [3]string{p, defaultDS.DatasetId, path[0]}, nil
}

// resolve binds an expr to a table column or pseudo-column.
func resolve(t *table, e *expr) (column, error) {
	if e.dateOf != nil {
		inner, err := resolve(t, e.dateOf)
		if err != nil {
			return column{}, err
		}
		var conv func(string) string
		switch inner.typ {
		case "DATE":
			conv = func(v string) string { return v }
		case "DATETIME":
			conv = func(v string) string { return v[:10] }
		case "TIMESTAMP":
			conv = func(v string) string {
				us, _ := strconv.ParseInt(v, 10, 64)
				return time.UnixMicro(us).UTC().Format("2006-01-02")
			}
		default:
			return column{}, errInvalidQuery("No matching signature for function DATE for argument types: %s", sqlTypeName(inner.typ))
		}
		return column{typ: "DATE", get: func(r row) cell {
			c := inner.get(r)
			if c.null {
				return c
			}
			return cell{v: conv(c.v)}
		}}, nil
	}
	if i := fieldIndex(t.schema, e.column); i >= 0 {
		return column{typ: t.schema[i].Type, name: t.schema[i].Name, get: func(r row) cell {
			if i >= len(r.cells) {
				return cell{null: true}
			}
			return r.cells[i]
		}}, nil
	}
	if t.ingestionPartitioned() {
		switch strings.ToUpper(e.column) {
		case "_PARTITIONTIME":
			return column{typ: "TIMESTAMP", name: "_PARTITIONTIME", get: func(r row) cell {
				d, err := time.Parse("20060102", r.partition)
				if err != nil {
					return cell{null: true}
				}
				return cell{v: strconv.FormatInt(d.UnixMicro(), 10)}
			}}, nil
		case "_PARTITIONDATE":
			return column{typ: "DATE", name: "_PARTITIONDATE", get: func(r row) cell {
				d, err := time.Parse("20060102", r.partition)
				if err != nil {
					return cell{null: true}
				}
				return cell{v: d.Format("2006-01-02")}
			}}, nil
		}
	}
	return column{}, errInvalidQuery("Unrecognized name: %s", e.column)
}

// compileWhere turns the conjunction into a row filter, type-checking each
// comparison the way GoogleSQL does.
func compileWhere(t *table, preds []predicate) (func(row) bool, error) {
	var tests []func(row) bool
	for _, p := range preds {
		col, err := resolve(t, p.lhs)
		if err != nil {
			return nil, err
		}
		if p.isNull {
			want := !p.notNull
			tests = append(tests, func(r row) bool { return col.get(r).null == want })
			continue
		}
		eq, err := equality(col.typ, p.rhs)
		if err != nil {
			return nil, err
		}
		tests = append(tests, func(r row) bool {
			c := col.get(r)
			return !c.null && eq(c.v)
		})
	}
	return func(r row) bool {
		for _, test := range tests {
			if !test(r) {
				return false
			}
		}
		return true
	}, nil
}

// equality returns a test comparing a stored value of colType to lit.
func equality(colType string, lit literal) (func(string) bool, error) {
	if lit.typ == "NULL" {
		return func(string) bool { return false }, nil
	}
	mismatch := errInvalidQuery("No matching signature for operator = for argument types: %s, %s. Supported signature: ANY = ANY", sqlTypeName(colType), lit.typ)
	switch colType {
	case "INTEGER", "FLOAT", "NUMERIC":
		if lit.typ != "INT64" && lit.typ != "FLOAT64" {
			return nil, mismatch
		}
		want, ok := new(big.Rat).SetString(lit.v)
		if !ok {
			return nil, errInvalidQuery("Invalid numeric literal %s", lit.v)
		}
		return func(v string) bool {
			got, ok := new(big.Rat).SetString(v)
			return ok && got.Cmp(want) == 0
		}, nil
	case "STRING", "BOOLEAN":
		if lit.typ != sqlTypeName(colType) {
			return nil, mismatch
		}
	case "DATE", "DATETIME", "TIMESTAMP", "TIME":
		if lit.typ != colType && lit.typ != "STRING" {
			return nil, mismatch
		}
		if lit.typ == "STRING" {
			v, err := parseValue(colType, lit.v)
			if err != nil {
				return nil, errInvalidQuery("Could not cast literal %q to type %s", lit.v, colType)
			}
			lit.v = v
		}
	default:
		return nil, errUnsupported("comparisons on %s columns", colType)
	}
	want := lit.v
	return func(v string) bool { return v == want }, nil
}

// projectRows evaluates the select list (and ORDER BY) over the matched rows.
func projectRows(t *table, st *selectStmt, matched []row, res *queryResult) error {
	if anyCount(st.items) {
		if len(st.items) != 1 {
			return errUnsupported("COUNT(*) mixed with other select items (no GROUP BY support)")
		}
		name := st.items[0].alias
		if name == "" {
			name = "f0_"
		}
		res.schema = []*bq.TableFieldSchema{{Name: name, Type: "INTEGER", Mode: "NULLABLE"}}
		res.rows = [][]cell{{{v: strconv.Itoa(len(matched))}}}
		return nil
	}
	var cols []column
	if st.star {
		for _, f := range t.schema {
			c, _ := resolve(t, &expr{column: f.Name})
			cols = append(cols, c)
		}
		res.schema = wireSchema(t.schema).Fields
	} else {
		for i, it := range st.items {
			c, err := resolve(t, it.expr)
			if err != nil {
				return err
			}
			if it.alias != "" {
				c.name = it.alias
			} else if c.name == "" {
				c.name = fmt.Sprintf("f%d_", i)
			}
			cols = append(cols, c)
			res.schema = append(res.schema, &bq.TableFieldSchema{Name: c.name, Type: c.typ, Mode: "NULLABLE"})
		}
	}
	if err := orderRows(t, st.orderBy, cols, matched); err != nil {
		return err
	}
	for _, r := range matched {
		out := make([]cell, len(cols))
		for i, c := range cols {
			out[i] = c.get(r)
		}
		res.rows = append(res.rows, out)
	}
	return nil
}

func anyCount(items []selectItem) bool {
	for _, it := range items {
		if it.count {
			return true
		}
	}
	return false
}

// orderRows sorts rows by output aliases or table columns; NULLs sort first
// ascending and last descending, as in GoogleSQL.
func orderRows(t *table, keys []orderKey, cols []column, rows []row) error {
	type sortKey struct {
		col  column
		desc bool
	}
	var sks []sortKey
	for _, k := range keys {
		var col *column
		for i := range cols {
			if strings.EqualFold(cols[i].name, k.name) {
				col = &cols[i]
				break
			}
		}
		if col == nil {
			c, err := resolve(t, &expr{column: k.name})
			if err != nil {
				return err
			}
			col = &c
		}
		sks = append(sks, sortKey{col: *col, desc: k.desc})
	}
	sort.SliceStable(rows, func(a, b int) bool {
		for _, k := range sks {
			c := compareCells(k.col.typ, k.col.get(rows[a]), k.col.get(rows[b]))
			if c == 0 {
				continue
			}
			if k.desc {
				return c > 0
			}
			return c < 0
		}
		return false
	})
	return nil
}

// compareCells orders two stored values of one type, NULL lowest.
func compareCells(typ string, a, b cell) int {
	switch {
	case a.null && b.null:
		return 0
	case a.null:
		return -1
	case b.null:
		return 1
	}
	switch typ {
	case "INTEGER", "FLOAT", "NUMERIC", "TIMESTAMP":
		x, okx := new(big.Rat).SetString(a.v)
		y, oky := new(big.Rat).SetString(b.v)
		if okx && oky {
			return x.Cmp(y)
		}
	}
	return strings.Compare(a.v, b.v)
}
