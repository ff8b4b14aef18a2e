package clean

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// strayQuoteSpec tolerates up to 3 rejected rows.
const strayQuoteSpec = `
columns:
  - {name: date, type: DATE, required: true}
  - {name: price, type: NUMERIC, required: true}
  - {name: note, type: STRING}
reject_threshold: {max_rows: 3}
`

// rejectRows parses a rejects CSV into its data rows.
func rejectRows(t *testing.T, rejects string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(rejects)).ReadAll()
	if err != nil {
		t.Fatalf("rejects CSV %q: %v", rejects, err)
	}
	if len(rows) == 0 || strings.Join(rows[0], ",") != "line,column,reason,record" {
		t.Fatalf("rejects header: %q", rejects)
	}
	return rows[1:]
}

// goodRows is n valid data lines.
func goodRows(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "2026-01-%02d,%d,ok\n", i%28+1, i)
	}
	return b.String()
}

// A stray quote on the last line costs that one row, not the file.
func TestStrayQuoteOnLastLineRejectsOneRow(t *testing.T) {
	s := parseSchema(t, strayQuoteSpec)
	for name, tail := range map[string]string{
		"LF":         "2026-02-01,9,\"open\n",
		"CRLF":       "2026-02-01,9,\"open\r\n",
		"no newline": "2026-02-01,9,\"open",
	} {
		t.Run(name, func(t *testing.T) {
			data := "date,price,note\n" + goodRows(5) + tail
			r := runAll(t, s, "f.csv", []byte(data))
			if r.err != nil {
				t.Fatalf("the file failed: %v", r.err)
			}
			if r.cp.RowsIn != 6 || r.cp.RowsClean != 5 || r.cp.RowsRejected != 1 || !r.cp.Done {
				t.Fatalf("checkpoint %+v, want 6 rows in, 5 clean, 1 rejected", r.cp)
			}
			rows := rejectRows(t, r.rejects)
			want := []string{"7", "", "unterminated quoted field", `2026-02-01,9,"open`}
			if len(rows) != 1 || strings.Join(rows[0], "|") != strings.Join(want, "|") {
				t.Fatalf("rejects %q, want one row %q", rows, want)
			}
			c, _ := New(s, "f.csv")
			if err := c.CheckThreshold(r.cp); err != nil {
				t.Fatalf("threshold: %v", err)
			}
			if n := strings.Count(r.clean, "\n"); n != 6 {
				t.Fatalf("clean output has %d lines, want header + 5", n)
			}
		})
	}
}

// A stray quote early in the file swallows every line after it: each counts
// as a rejected row, so the reject threshold fails the run.
func TestStrayQuoteEarlyFailsByThreshold(t *testing.T) {
	s := parseSchema(t, strayQuoteSpec)
	data := "date,price,note\n" + goodRows(2) + "2026-02-01,9,\"open\n" + goodRows(8)
	r := runAll(t, s, "f.csv", []byte(data))
	if r.err != nil {
		t.Fatalf("the file failed: %v", r.err)
	}
	// Lines 4 to 12: the open record and the 8 lines it swallowed.
	if r.cp.RowsIn != 11 || r.cp.RowsClean != 2 || r.cp.RowsRejected != 9 {
		t.Fatalf("checkpoint %+v, want 11 rows in, 2 clean, 9 rejected", r.cp)
	}
	rows := rejectRows(t, r.rejects)
	wantRaw := strings.TrimSuffix("2026-02-01,9,\"open\n"+goodRows(8), "\n")
	if len(rows) != 1 || rows[0][0] != "4" || rows[0][2] != "unterminated quoted field" || rows[0][3] != wantRaw {
		t.Fatalf("rejects %q", rows)
	}
	c, _ := New(s, "f.csv")
	var te *ThresholdError
	if err := c.CheckThreshold(r.cp); !errors.As(err, &te) || te.Rejected != 9 {
		t.Fatalf("threshold: %v, want 9 rejected over max_rows 3", err)
	}
}

// An unterminated record longer than input.max_record_bytes takes the
// oversize path: its first bytes are kept, the whole rest is counted.
func TestStrayQuoteOverRecordLimit(t *testing.T) {
	s := parseSchema(t, strayQuoteSpec+"input: {max_field_bytes: 64, max_record_bytes: 64}\n")
	data := "date,price,note\n" + goodRows(1) + "2026-02-01,9,\"open\n" + goodRows(20)
	for _, every := range []int{1, 1024} {
		c, err := New(s, "f.csv")
		if err != nil {
			t.Fatal(err)
		}
		c.StopEvery = every
		var rows [][]string
		cp := Checkpoint{}
		for !cp.Done {
			var o, j bytes.Buffer
			if cp, err = c.Segment(context.Background(), bytesOpener([]byte(data)), cp, &o, &j, func() bool { return true }); err != nil {
				t.Fatalf("stop every %d: %v", every, err)
			}
			rows = append(rows, rejectRows(t, j.String())...)
		}
		if cp.RowsIn != 22 || cp.RowsClean != 1 || cp.RowsRejected != 21 {
			t.Fatalf("stop every %d: checkpoint %+v, want 22 in, 1 clean, 21 rejected", every, cp)
		}
		if len(rows) != 1 || rows[0][0] != "3" || rows[0][2] != "unterminated quoted field" ||
			!strings.HasPrefix(rows[0][3], "2026-02-01,9,\"open\n") || !strings.HasSuffix(rows[0][3], "…") {
			t.Fatalf("stop every %d: rejects %q", every, rows)
		}
	}
}

// A header whose quote never closes leaves no data: the file fails.
func TestStrayQuoteInHeaderFailsFile(t *testing.T) {
	r := runAll(t, parseSchema(t, strayQuoteSpec), "f.csv", []byte("date,price,\"note\n2026-01-01,1,x\n"))
	var fe *FileError
	if !errors.As(r.err, &fe) || fe.Line != 1 || !strings.Contains(fe.Reason, "unterminated quoted field") {
		t.Fatalf("err = %v, want a file error on line 1", r.err)
	}
}
