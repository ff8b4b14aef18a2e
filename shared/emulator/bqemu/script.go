package bqemu

import (
	"strconv"
	"strings"
	"time"

	bq "google.golang.org/api/bigquery/v2"
)

// Scripts: a query whose first statement is not a SELECT is run as a
// multi-statement query of these statements, separated by semicolons:
//
//	BEGIN [TRANSACTION]; COMMIT [TRANSACTION]; ROLLBACK [TRANSACTION]
//	DELETE [FROM] path WHERE pred AND ...
//	INSERT [INTO] path (column, ...) SELECT item, ... FROM path [WHERE pred AND ...]
//
// where an INSERT's item is a column of the source table or a literal
// (parameters included), and _PARTITIONTIME may be a target column of an
// ingestion-time partitioned table. Anything else is refused.
//
// Transactions follow https://cloud.google.com/bigquery/docs/transactions:
// "The query executes a COMMIT TRANSACTION statement. This statement
// atomically commits all changes made inside the transaction"; "The query
// ends before reaching either of these two statements. In this case,
// BigQuery automatically rolls back the transaction"; "If an error occurs
// during a transaction and there is no exception handler, then the query
// fails and BigQuery automatically rolls back the transaction"; "A query can
// contain multiple transactions, but they cannot be nested." Outside a
// transaction, "Each DML statement initiates an implicit transaction, which
// means that changes made by the statement are automatically committed at
// the end of each successful DML statement"
// (https://cloud.google.com/bigquery/docs/data-manipulation-language).

type stmtKind int

const (
	stmtBegin stmtKind = iota
	stmtCommit
	stmtRollback
	stmtDelete
	stmtInsert
)

// insertItem is one value an INSERT's SELECT yields: a source column or a
// literal.
type insertItem struct {
	expr *expr
	lit  *literal
}

type scriptStmt struct {
	kind    stmtKind
	target  []string // DELETE and INSERT
	where   []predicate
	columns []string // INSERT
	items   []insertItem
	source  []string // INSERT ... SELECT ... FROM source
}

// isScript reports whether sql is a script rather than a single SELECT.
func isScript(sql string) bool {
	toks, err := lex(sql)
	return err == nil && !toks[0].keyword("SELECT")
}

// parseScript parses a multi-statement query.
func parseScript(sql string, params map[string]literal) ([]scriptStmt, error) {
	toks, err := lex(sql)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, params: params}
	var out []scriptStmt
	for p.peek().kind != tokEOF {
		st, err := p.statement()
		if err != nil {
			return nil, err
		}
		out = append(out, st)
		if !p.accept(tokSymbol, ";") && p.peek().kind != tokEOF {
			return nil, p.unexpected("expected ; between statements")
		}
	}
	return out, nil
}

func (p *parser) statement() (scriptStmt, error) {
	t := p.next()
	var st scriptStmt
	var err error
	switch strings.ToUpper(t.text) {
	case "BEGIN", "COMMIT", "ROLLBACK":
		if t.kind != tokIdent {
			break
		}
		st.kind = map[string]stmtKind{"BEGIN": stmtBegin, "COMMIT": stmtCommit, "ROLLBACK": stmtRollback}[strings.ToUpper(t.text)]
		p.accept(tokIdent, "TRANSACTION")
		return st, nil
	case "DELETE":
		st.kind = stmtDelete
		p.accept(tokIdent, "FROM")
		if st.target, err = p.tablePath(); err != nil {
			return st, err
		}
		// BigQuery's DELETE requires a WHERE clause (DML syntax, DELETE
		// statement; TODO: quote the sentence).
		if !p.accept(tokIdent, "WHERE") {
			return st, errInvalidQuery("Syntax error: Expected keyword WHERE at [1:%d]", p.peek().pos+1)
		}
		st.where, err = p.conjunction()
		return st, err
	case "INSERT":
		st.kind = stmtInsert
		p.accept(tokIdent, "INTO")
		if st.target, err = p.tablePath(); err != nil {
			return st, err
		}
		if err := p.expect(tokSymbol, "("); err != nil {
			return st, err
		}
		for {
			c := p.next()
			if c.kind != tokIdent && c.kind != tokQuoted {
				p.i--
				return st, p.unexpected("expected a column name")
			}
			st.columns = append(st.columns, c.text)
			if !p.accept(tokSymbol, ",") {
				break
			}
		}
		if err := p.expect(tokSymbol, ")"); err != nil {
			return st, err
		}
		if err := p.expect(tokIdent, "SELECT"); err != nil {
			return st, err
		}
		for {
			if p.startsLiteral() {
				lit, err := p.literal()
				if err != nil {
					return st, err
				}
				st.items = append(st.items, insertItem{lit: &lit})
			} else {
				e, err := p.expr()
				if err != nil {
					return st, err
				}
				st.items = append(st.items, insertItem{expr: e})
			}
			if !p.accept(tokSymbol, ",") {
				break
			}
		}
		if err := p.expect(tokIdent, "FROM"); err != nil {
			return st, err
		}
		if st.source, err = p.tablePath(); err != nil {
			return st, err
		}
		if p.accept(tokIdent, "WHERE") {
			st.where, err = p.conjunction()
		}
		return st, err
	}
	p.i--
	return st, p.unexpected("the emulator's scripts support BEGIN/COMMIT/ROLLBACK TRANSACTION, DELETE ... WHERE and INSERT INTO t (columns) SELECT ... FROM t")
}

// scriptTables lists the tables a script reads and those it modifies.
func scriptTables(project string, defaultDS *bq.DatasetReference, stmts []scriptStmt) (read, written [][3]string, err error) {
	for _, st := range stmts {
		if st.target != nil {
			tp, err := qualify(project, defaultDS, st.target)
			if err != nil {
				return nil, nil, err
			}
			written = append(written, tp)
		}
		if st.source != nil {
			tp, err := qualify(project, defaultDS, st.source)
			if err != nil {
				return nil, nil, err
			}
			read = append(read, tp)
		}
	}
	return read, written, nil
}

// runScript executes a script under the store lock.
func (s *Server) runScript(project string, defaultDS *bq.DatasetReference, stmts []scriptStmt) (*queryResult, error) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	// pending holds the rows of the tables changed inside the open
	// transaction (nil when none is open).
	var pending map[*table][]row
	rowsOf := func(t *table) []row {
		if r, ok := pending[t]; ok {
			return r
		}
		return t.rows
	}
	now := s.now()
	write := func(t *table, rows []row) {
		if pending != nil {
			pending[t] = rows
			return
		}
		t.rows = rows
		t.touch(now)
	}
	lookup := func(path []string) (*table, error) {
		tp, err := qualify(project, defaultDS, path)
		if err != nil {
			return nil, err
		}
		t, err := s.store.tableLocked(tp[0], tp[1], tp[2])
		if err != nil {
			return nil, errNotFound("Table %s:%s.%s was not found in location US", tp[0], tp[1], tp[2])
		}
		return t, nil
	}
	res := &queryResult{}
	for _, st := range stmts {
		switch st.kind {
		case stmtBegin:
			if pending != nil {
				return nil, errInvalidQuery("Nested transactions are not supported")
			}
			pending = map[*table][]row{}
		case stmtCommit, stmtRollback:
			if pending == nil {
				return nil, errInvalidQuery("There is no active transaction")
			}
			if st.kind == stmtCommit {
				for t, rows := range pending {
					t.rows = rows
					t.touch(now)
				}
			}
			pending = nil
		case stmtDelete:
			t, err := lookup(st.target)
			if err != nil {
				return nil, err
			}
			filter, err := compileWhere(t, st.where)
			if err != nil {
				return nil, err
			}
			var kept []row
			for _, r := range rowsOf(t) {
				if !filter(r) {
					kept = append(kept, r)
				}
			}
			res.bytesProcessed += t.numBytes()
			write(t, kept)
		case stmtInsert:
			t, err := lookup(st.target)
			if err != nil {
				return nil, err
			}
			src, err := lookup(st.source)
			if err != nil {
				return nil, err
			}
			rows, err := insertRows(t, src, rowsOf(src), st, now)
			if err != nil {
				return nil, err
			}
			res.bytesProcessed += src.numBytes()
			write(t, append(append([]row(nil), rowsOf(t)...), rows...))
		}
	}
	// An open transaction at the end is rolled back: pending is dropped.
	return res, nil
}

// insertRows computes the rows INSERT INTO t (columns) SELECT items FROM src
// WHERE ... adds, checking types and REQUIRED columns as BigQuery does.
func insertRows(t, src *table, srcRows []row, st scriptStmt, now time.Time) ([]row, error) {
	if len(st.columns) != len(st.items) {
		return nil, errInvalidQuery("Inserted row has wrong column count; Has %d, expected %d", len(st.items), len(st.columns))
	}
	partTime := -1 // index of _PARTITIONTIME among the items
	target := make([]int, len(st.columns))
	values := make([]func(row) cell, len(st.items))
	for i, name := range st.columns {
		typ := ""
		if strings.EqualFold(name, "_PARTITIONTIME") && t.ingestionPartitioned() {
			partTime, target[i], typ = i, -1, "TIMESTAMP"
		} else {
			target[i] = fieldIndex(t.schema, name)
			if target[i] < 0 {
				return nil, errInvalidQuery("Column %s is not present in table %s", name, t.fullID())
			}
			typ = t.schema[target[i]].Type
		}
		it := st.items[i]
		if it.lit != nil {
			lit := *it.lit
			if lit.typ != "NULL" && lit.typ != sqlTypeName(typ) {
				return nil, errInvalidQuery("Value has type %s which cannot be inserted into column %s, which has type %s", lit.typ, name, sqlTypeName(typ))
			}
			values[i] = func(row) cell { return cell{null: lit.typ == "NULL", v: lit.v} }
			continue
		}
		col, err := resolve(src, it.expr)
		if err != nil {
			return nil, err
		}
		if col.typ != typ {
			return nil, errInvalidQuery("Query column %d has type %s which cannot be inserted into column %s, which has type %s", i+1, sqlTypeName(col.typ), name, sqlTypeName(typ))
		}
		values[i] = col.get
	}
	for j, f := range t.schema {
		if f.Mode == "REQUIRED" && !containsInt(target, j) {
			return nil, errInvalidQuery("Required column value for column index: %d is missing", j)
		}
	}
	filter, err := compileWhere(src, st.where)
	if err != nil {
		return nil, err
	}
	today := now.UTC().Format("20060102")
	var out []row
	for _, r := range srcRows {
		if !filter(r) {
			continue
		}
		nr := row{cells: make([]cell, len(t.schema))}
		for j := range nr.cells {
			nr.cells[j] = cell{null: true}
		}
		for i, get := range values {
			c := get(r)
			if i == partTime {
				if c.null {
					return nil, errInvalidQuery("_PARTITIONTIME cannot be NULL")
				}
				if us, err := strconv.ParseInt(c.v, 10, 64); err != nil || us%(24*3600*1e6) != 0 {
					// "Only timestamps that correspond to exact date
					// boundaries can be used" (DML with partitioned tables).
					return nil, errInvalidQuery("Cannot insert into _PARTITIONTIME a value that is not a day boundary")
				}
				nr.partition = partitionOfValue("TIMESTAMP", c)
				continue
			}
			f := t.schema[target[i]]
			if c.null && f.Mode == "REQUIRED" {
				return nil, errInvalidQuery("Required field %s cannot be null", f.Name)
			}
			nr.cells[target[i]] = c
		}
		switch {
		case t.meta.TimePartitioning == nil:
		case t.ingestionPartitioned():
			if partTime < 0 {
				nr.partition = today
			}
		default:
			pf := t.partitionField()
			nr.partition = partitionOfValue(t.schema[pf].Type, nr.cells[pf])
		}
		out = append(out, nr)
	}
	return out, nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
