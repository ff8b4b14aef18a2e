package clean

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"
)

const segSpec = `
columns:
  - {name: id, type: INT64, required: true}
  - {name: day, type: DATE, formats: ["%Y-%m-%d", "%Y/%m/%d"]}
  - {name: amount, type: NUMERIC}
  - {name: text, type: STRING}
`

// messyCSV makes n records mixing quoted newlines, doubled quotes, CRLF,
// blank lines, Japanese text and bad values.
func messyCSV(rng *rand.Rand, n int, bom bool) string {
	var b strings.Builder
	if bom {
		b.WriteString("\xEF\xBB\xBF")
	}
	b.WriteString("id,day,amount,text\r\n")
	texts := []string{"plain", "", "\"two\nlines\"", "\"with, comma\"", "\"say \"\"hi\"\"\"", "日本語テキスト", "\"改行\r\nあり\"", "  padded  "}
	for i := range n {
		eol := "\n"
		if rng.IntN(2) == 0 {
			eol = "\r\n"
		}
		day := fmt.Sprintf("2026-%02d-%02d", 1+rng.IntN(12), 1+rng.IntN(31)) // some impossible
		amount := fmt.Sprintf("%d.%d", rng.IntN(1000), rng.IntN(100))
		if rng.IntN(20) == 0 {
			amount = "n/a"
		}
		fmt.Fprintf(&b, "%d,%s,%s,%s%s", i, day, amount, texts[rng.IntN(len(texts))], eol)
		if rng.IntN(30) == 0 {
			b.WriteString(eol) // blank line
		}
	}
	return b.String()
}

// dataLines drops a part's header line.
func dataLines(part string) string {
	_, rest, _ := strings.Cut(part, "\n")
	return rest
}

// runSegmented cleans data in segments stopped at random, persisting the
// checkpoint as JSON in between, and returns the concatenated data lines.
func runSegmented(t *testing.T, c *Cleaner, data []byte, rng *rand.Rand) (string, string, Checkpoint, int) {
	t.Helper()
	var clean, rejects strings.Builder
	cp, segments := Checkpoint{}, 0
	for !cp.Done {
		var out, rej bytes.Buffer
		next, err := c.Segment(context.Background(), bytesOpener(data), cp, &out, &rej, func() bool { return rng.IntN(3) == 0 })
		if err != nil {
			t.Fatalf("segment %d from %+v: %v", segments, cp, err)
		}
		clean.WriteString(dataLines(out.String()))
		rejects.WriteString(dataLines(rej.String()))
		js, _ := json.Marshal(next)
		cp = Checkpoint{}
		if err := json.Unmarshal(js, &cp); err != nil {
			t.Fatal(err)
		}
		segments++
	}
	return clean.String(), rejects.String(), cp, segments
}

func TestSegmentsMatchOneRun(t *testing.T) {
	for _, variant := range []string{"utf-8", "bom", "gzip", "shift_jis", "shift_jis+gzip"} {
		t.Run(variant, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(len(variant))))
			text := messyCSV(rng, 3000, variant == "bom")
			spec := segSpec
			data := []byte(text)
			if strings.HasPrefix(variant, "shift_jis") {
				spec = "input: {encoding: shift_jis}\n" + spec
				var err error
				if data, err = japanese.ShiftJIS.NewEncoder().Bytes(data); err != nil {
					t.Fatal(err)
				}
			}
			if strings.HasSuffix(variant, "gzip") {
				data = gzipped(t, data)
			}
			s := parseSchema(t, spec)
			whole := runAll(t, s, "f.csv", data)
			if whole.err != nil {
				t.Fatal(whole.err)
			}
			if whole.cp.RowsRejected == 0 || whole.cp.RowsClean < 2000 || !strings.Contains(whole.clean, "\"two\nlines\"") {
				t.Fatalf("test data is not messy enough: %+v", whole.cp)
			}
			for trial := range 4 {
				c, err := New(s, "f.csv")
				if err != nil {
					t.Fatal(err)
				}
				c.StopEvery = 1 + rng.IntN(80)
				clean, rejects, cp, segments := runSegmented(t, c, data, rng)
				if segments < 10 {
					t.Errorf("trial %d: only %d segments", trial, segments)
				}
				if clean != dataLines(whole.clean) {
					t.Fatalf("trial %d (every %d): segmented clean output differs", trial, c.StopEvery)
				}
				if rejects != dataLines(whole.rejects) {
					t.Fatalf("trial %d: segmented rejects differ", trial)
				}
				if cp.RowsIn != whole.cp.RowsIn || cp.RowsClean != whole.cp.RowsClean || cp.RowsRejected != whole.cp.RowsRejected || cp.Line != whole.cp.Line {
					t.Fatalf("trial %d: checkpoint %+v, one run %+v", trial, cp, whole.cp)
				}
			}
		})
	}
}
