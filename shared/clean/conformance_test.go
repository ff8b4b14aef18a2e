package clean

import (
	"encoding/csv"
	"regexp"
	"strings"
	"testing"

	"github.com/dropcast/dropcast/shared/conformance"
)

// TestConformanceCleanPartIsVertexInput cleans a file and checks the clean
// part obeys the documented rules for Vertex AI CSV input, which predict
// sends it as: a header row, column names of letters, digits and _ that do
// not begin with _, and every string in double quotes (here: every
// non-empty field), NULL left empty.
func TestConformanceCleanPartIsVertexInput(t *testing.T) {
	f := conformance.Load(t, "vertex-csv-input")
	good := string(f.MustFile(t, "good.csv"))
	in := "date,store,price,promo,note\n" +
		"2026-04-05,7,12.5,true,\"a, \"\"quoted\"\"\nnote\"\n" +
		"2026-04-08,2,-0.10,false,\n"
	r := runAll(t, parseSchema(t, salesSpec), "sales.csv", []byte(in))
	if r.err != nil {
		t.Fatal(r.err)
	}
	name := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_]*$`)
	for _, text := range []string{good, r.clean} { // the fixture's documented input, then ours
		recs, err := csv.NewReader(strings.NewReader(text)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, col := range recs[0] {
			if !name.MatchString(col) {
				t.Errorf("column name %q: want letters, digits and _, not beginning with _", col)
			}
		}
		// Every non-empty field starts with a quote: at the start of its
		// line or after a comma (quoted newlines are inside fields).
		rest := text
		for rest != "" {
			line, after, _ := strings.Cut(rest, "\n")
			rest = after
			for strings.Count(line, `"`)%2 == 1 && rest != "" { // a quoted newline: join
				more, after, _ := strings.Cut(rest, "\n")
				line, rest = line+"\n"+more, after
			}
			for _, field := range splitQuoted(line) {
				if field != "" && !strings.HasPrefix(field, `"`) {
					t.Errorf("field %q of line %q is not in double quotes", field, line)
				}
			}
		}
	}
}

// splitQuoted splits one CSV line at the commas outside quotes, keeping the
// fields as written.
func splitQuoted(line string) []string {
	var out []string
	in, start := false, 0
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '"':
			in = !in
		case line[i] == ',' && !in:
			out = append(out, line[start:i])
			start = i + 1
		}
	}
	return append(out, line[start:])
}
