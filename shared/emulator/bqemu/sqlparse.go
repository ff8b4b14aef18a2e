package bqemu

import (
	"strconv"
	"strings"
	"unicode"
)

// The emulator's SQL subset:
//
//	SELECT { * | COUNT(*) [[AS] a] | expr [[AS] a], ... }
//	FROM path
//
// or SELECT integer [[AS] a] with no FROM (a constant query: one row).
//	[WHERE pred AND pred ...]   pred: expr = literal | literal = expr | expr IS [NOT] NULL
//	[ORDER BY name [ASC|DESC], ...]
//	[LIMIT n]
//
// expr is a column, _PARTITIONTIME, _PARTITIONDATE or DATE(expr); literals
// are strings, numbers, TRUE/FALSE, NULL and TIMESTAMP/DATE/DATETIME
// literals in either the 'x' or ('x') form, and named query parameters
// (@name; scalar types only). A query whose first statement is not a SELECT
// is a script: see script.go.

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokIdent
	tokQuoted // `backtick identifier`
	tokString
	tokNumber
	tokSymbol
	tokParam // @name: a named query parameter
)

type token struct {
	kind tokenKind
	text string
	pos  int
}

func (t token) is(kind tokenKind, text string) bool {
	return t.kind == kind && strings.EqualFold(t.text, text)
}

func (t token) keyword(kw string) bool { return t.is(tokIdent, kw) }

// lex splits SQL into tokens.
func lex(sql string) ([]token, error) {
	var toks []token
	rs := []rune(sql)
	for i := 0; i < len(rs); {
		c := rs[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '-' && i+1 < len(rs) && rs[i+1] == '-':
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
		case c == '_' || unicode.IsLetter(c):
			j := i
			for j < len(rs) && (rs[j] == '_' || unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j])) {
				j++
			}
			toks = append(toks, token{tokIdent, string(rs[i:j]), i})
			i = j
		case unicode.IsDigit(c):
			j := i
			for j < len(rs) && (unicode.IsDigit(rs[j]) || rs[j] == '.') {
				j++
			}
			toks = append(toks, token{tokNumber, string(rs[i:j]), i})
			i = j
		case c == '`' || c == '\'' || c == '"':
			j := i + 1
			var b strings.Builder
			for ; j < len(rs) && rs[j] != c; j++ {
				if rs[j] == '\\' && j+1 < len(rs) && c != '`' {
					j++
				}
				b.WriteRune(rs[j])
			}
			if j >= len(rs) {
				return nil, errInvalidQuery("Syntax error: Unclosed literal at [1:%d]", i+1)
			}
			kind := tokString
			if c == '`' {
				kind = tokQuoted
			}
			toks = append(toks, token{kind, b.String(), i})
			i = j + 1
		case c == '@' && i+1 < len(rs) && (rs[i+1] == '_' || unicode.IsLetter(rs[i+1])):
			j := i + 1
			for j < len(rs) && (rs[j] == '_' || unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j])) {
				j++
			}
			toks = append(toks, token{tokParam, string(rs[i+1 : j]), i})
			i = j
		case strings.ContainsRune("*,.()=;", c):
			toks = append(toks, token{tokSymbol, string(c), i})
			i++
		default:
			return nil, errUnsupported("character %q at [1:%d]; the emulator supports SELECT ... FROM ... [WHERE a = x AND ...] [ORDER BY ...] [LIMIT n]", c, i+1)
		}
	}
	return append(toks, token{kind: tokEOF, pos: len(rs)}), nil
}

// expr is a value computed from a row: a column (or pseudo-column), or
// DATE() of an expr.
type expr struct {
	column string
	dateOf *expr
}

func (e *expr) String() string {
	if e.dateOf != nil {
		return "DATE(" + e.dateOf.String() + ")"
	}
	return e.column
}

// literal is a constant with its GoogleSQL type.
type literal struct {
	typ string // STRING, INT64, FLOAT64, BOOL, NULL, DATE, DATETIME, TIMESTAMP
	v   string
}

type predicate struct {
	lhs     *expr
	isNull  bool // IS NULL / IS NOT NULL
	notNull bool
	rhs     literal
}

type selectItem struct {
	count bool
	expr  *expr
	alias string
}

type orderKey struct {
	name string
	desc bool
}

type selectStmt struct {
	// constant is set for SELECT integer with no FROM; its value is the
	// literal's text.
	constant *literal
	star     bool
	items    []selectItem
	path     []string
	where    []predicate
	orderBy  []orderKey
	limit    int64 // -1 when absent
}

type parser struct {
	toks []token
	i    int
	// params are the query's named parameters (@name), by lower-case name.
	params map[string]literal
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) accept(kind tokenKind, text string) bool {
	if p.peek().is(kind, text) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expect(kind tokenKind, text string) error {
	if !p.accept(kind, text) {
		return p.unexpected("expected " + text)
	}
	return nil
}

func (p *parser) unexpected(why string) error {
	t := p.peek()
	if t.kind == tokEOF {
		return errInvalidQuery("Syntax error: Unexpected end of script (%s)", why)
	}
	return errUnsupported("query text %q at [1:%d] (%s); the emulator supports SELECT {*|COUNT(*)|columns} FROM table [WHERE col = literal AND ...] [ORDER BY col] [LIMIT n]", t.text, t.pos+1, why)
}

// parseSelect parses the emulator's SQL subset.
func parseSelect(sql string) (*selectStmt, error) { return parseSelectWith(sql, nil) }

// parseSelectWith parses a query with named parameters.
func parseSelectWith(sql string, params map[string]literal) (*selectStmt, error) {
	toks, err := lex(sql)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, params: params}
	st := &selectStmt{limit: -1}
	if err := p.expect(tokIdent, "SELECT"); err != nil {
		return nil, err
	}
	if p.peek().kind == tokNumber && !strings.Contains(p.peek().text, ".") {
		return p.constantSelect(st)
	}
	if err := p.selectList(st); err != nil {
		return nil, err
	}
	if err := p.expect(tokIdent, "FROM"); err != nil {
		return nil, err
	}
	if st.path, err = p.tablePath(); err != nil {
		return nil, err
	}
	if p.accept(tokIdent, "WHERE") {
		if st.where, err = p.conjunction(); err != nil {
			return nil, err
		}
	}
	if p.accept(tokIdent, "ORDER") {
		if err := p.expect(tokIdent, "BY"); err != nil {
			return nil, err
		}
		if st.orderBy, err = p.orderList(); err != nil {
			return nil, err
		}
	}
	if p.accept(tokIdent, "LIMIT") {
		t := p.next()
		n, err := strconv.ParseInt(t.text, 10, 64)
		if t.kind != tokNumber || err != nil {
			return nil, errInvalidQuery("Syntax error: LIMIT expects an integer literal at [1:%d]", t.pos+1)
		}
		st.limit = n
	}
	p.accept(tokSymbol, ";")
	if p.peek().kind != tokEOF {
		return nil, p.unexpected("expected end of query")
	}
	return st, nil
}

// constantSelect reads the rest of SELECT integer [[AS] alias] [;].
func (p *parser) constantSelect(st *selectStmt) (*selectStmt, error) {
	lit := literal{typ: "INT64", v: p.next().text}
	st.constant = &lit
	item := selectItem{}
	if p.accept(tokIdent, "AS") || p.peek().kind == tokIdent || p.peek().kind == tokQuoted {
		t := p.next()
		if t.kind != tokIdent && t.kind != tokQuoted {
			return nil, p.unexpected("expected an alias")
		}
		item.alias = t.text
	}
	st.items = []selectItem{item}
	p.accept(tokSymbol, ";")
	if p.peek().kind != tokEOF {
		return nil, p.unexpected("expected end of query (SELECT without FROM takes one integer)")
	}
	return st, nil
}

func (p *parser) selectList(st *selectStmt) error {
	if p.accept(tokSymbol, "*") {
		st.star = true
		return nil
	}
	for {
		var item selectItem
		if p.peek().keyword("COUNT") {
			p.next()
			if err := p.expect(tokSymbol, "("); err != nil {
				return err
			}
			if err := p.expect(tokSymbol, "*"); err != nil {
				return err
			}
			if err := p.expect(tokSymbol, ")"); err != nil {
				return err
			}
			item.count = true
		} else {
			e, err := p.expr()
			if err != nil {
				return err
			}
			item.expr = e
		}
		if p.accept(tokIdent, "AS") || (p.peek().kind == tokIdent && !p.peek().keyword("FROM")) || p.peek().kind == tokQuoted {
			t := p.next()
			if t.kind != tokIdent && t.kind != tokQuoted {
				return p.unexpected("expected an alias")
			}
			item.alias = t.text
		}
		st.items = append(st.items, item)
		if !p.accept(tokSymbol, ",") {
			return nil
		}
	}
}

// tablePath reads `p.d.t`, p.d.t, d.t or t (any part may be backticked).
func (p *parser) tablePath() ([]string, error) {
	var parts []string
	for {
		t := p.next()
		switch t.kind {
		case tokQuoted:
			parts = append(parts, strings.Split(t.text, ".")...)
		case tokIdent:
			parts = append(parts, t.text)
		default:
			p.i--
			return nil, p.unexpected("expected a table name")
		}
		if !p.accept(tokSymbol, ".") {
			break
		}
	}
	if len(parts) > 3 {
		return nil, errInvalidQuery("Table name %q has too many parts", strings.Join(parts, "."))
	}
	return parts, nil
}

func (p *parser) expr() (*expr, error) {
	t := p.next()
	if t.kind != tokIdent && t.kind != tokQuoted {
		p.i--
		return nil, p.unexpected("expected a column")
	}
	if t.kind == tokIdent && strings.EqualFold(t.text, "DATE") && p.accept(tokSymbol, "(") {
		inner, err := p.expr()
		if err != nil {
			return nil, err
		}
		if err := p.expect(tokSymbol, ")"); err != nil {
			return nil, err
		}
		return &expr{dateOf: inner}, nil
	}
	if p.peek().is(tokSymbol, "(") {
		return nil, errUnsupported("function %s()", strings.ToUpper(t.text))
	}
	return &expr{column: t.text}, nil
}

// startsLiteral reports whether the tokens at p start a literal.
func (p *parser) startsLiteral() bool {
	t := p.peek()
	switch t.kind {
	case tokString, tokNumber, tokParam:
		return true
	case tokIdent:
		switch strings.ToUpper(t.text) {
		case "TRUE", "FALSE", "NULL":
			return true
		case "DATE", "DATETIME", "TIMESTAMP":
			n := p.toks[p.i+1]
			return n.kind == tokString || (n.is(tokSymbol, "(") && p.toks[p.i+2].kind == tokString)
		}
	}
	return false
}

func (p *parser) literal() (literal, error) {
	t := p.next()
	switch t.kind {
	case tokParam:
		lit, ok := p.params[strings.ToLower(t.text)]
		if !ok {
			return literal{}, errInvalidQuery("Query parameter '%s' not found at [1:%d]", t.text, t.pos+1)
		}
		return lit, nil
	case tokString:
		return literal{typ: "STRING", v: t.text}, nil
	case tokNumber:
		if strings.Contains(t.text, ".") {
			return literal{typ: "FLOAT64", v: t.text}, nil
		}
		return literal{typ: "INT64", v: t.text}, nil
	}
	kw := strings.ToUpper(t.text)
	switch kw {
	case "TRUE", "FALSE":
		return literal{typ: "BOOL", v: strings.ToLower(kw)}, nil
	case "NULL":
		return literal{typ: "NULL"}, nil
	}
	paren := p.accept(tokSymbol, "(")
	s := p.next()
	if paren {
		if err := p.expect(tokSymbol, ")"); err != nil {
			return literal{}, err
		}
	}
	canon := map[string]string{"DATE": "DATE", "DATETIME": "DATETIME", "TIMESTAMP": "TIMESTAMP"}[kw]
	v, err := parseValue(canon, s.text)
	if err != nil {
		return literal{}, errInvalidQuery("Could not cast literal %q to type %s at [1:%d]", s.text, kw, s.pos+1)
	}
	return literal{typ: kw, v: v}, nil
}

// conjunction reads pred AND pred ..., allowing parentheses around any part.
func (p *parser) conjunction() ([]predicate, error) {
	var preds []predicate
	for {
		if p.accept(tokSymbol, "(") {
			inner, err := p.conjunction()
			if err != nil {
				return nil, err
			}
			if err := p.expect(tokSymbol, ")"); err != nil {
				return nil, err
			}
			preds = append(preds, inner...)
		} else {
			pr, err := p.predicate()
			if err != nil {
				return nil, err
			}
			preds = append(preds, pr)
		}
		if !p.accept(tokIdent, "AND") {
			return preds, nil
		}
	}
}

func (p *parser) predicate() (predicate, error) {
	var pr predicate
	if p.startsLiteral() {
		lit, err := p.literal()
		if err != nil {
			return pr, err
		}
		if err := p.expect(tokSymbol, "="); err != nil {
			return pr, err
		}
		e, err := p.expr()
		if err != nil {
			return pr, err
		}
		pr.lhs, pr.rhs = e, lit
		return pr, nil
	}
	e, err := p.expr()
	if err != nil {
		return pr, err
	}
	pr.lhs = e
	if p.accept(tokIdent, "IS") {
		pr.isNull = true
		pr.notNull = p.accept(tokIdent, "NOT")
		return pr, p.expect(tokIdent, "NULL")
	}
	if err := p.expect(tokSymbol, "="); err != nil {
		return pr, err
	}
	if !p.startsLiteral() {
		return pr, p.unexpected("expected a literal")
	}
	pr.rhs, err = p.literal()
	return pr, err
}

func (p *parser) orderList() ([]orderKey, error) {
	var keys []orderKey
	for {
		t := p.next()
		if t.kind != tokIdent && t.kind != tokQuoted {
			p.i--
			return nil, p.unexpected("expected a column name")
		}
		k := orderKey{name: t.text}
		if p.accept(tokIdent, "DESC") {
			k.desc = true
		} else {
			p.accept(tokIdent, "ASC")
		}
		keys = append(keys, k)
		if !p.accept(tokSymbol, ",") {
			return keys, nil
		}
	}
}
