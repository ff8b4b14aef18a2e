package export

import (
	"context"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"

	"github.com/dropcast/dropcast/shared/clean"
	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/spec"
)

// columnIndex maps each spec column to its field in the source schema.
func columnIndex(p *spec.Pipeline, s bigquery.Schema) ([]int, error) {
	byName := map[string]int{}
	for i, f := range s {
		byName[strings.ToLower(f.Name)] = i
	}
	idx := make([]int, len(p.Columns))
	var missing []string
	for i, c := range p.Columns {
		j, ok := byName[strings.ToLower(c.Name)]
		if !ok {
			missing = append(missing, c.Name)
		}
		idx[i] = j
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the source has no column %s", strings.Join(missing, ", "))
	}
	return idx, nil
}

// writePart writes one page as clean part number cp.Parts, in the form
// preprocess writes them (clean.AppendRecord): the spec's columns in
// canonical text, and the row key numbering the rows from 1.
func (s *Step) writePart(ctx context.Context, x *kernel.Exec, cp Checkpoint, cols []int, page [][]bigquery.Value) error {
	name := fmt.Sprintf("%sclean/part-%05d.csv", x.Run.WorkPrefix(), cp.Parts)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // abandons the object on an early return
	w := s.app.Clients.Storage.Bucket(s.app.Config.WorkBucket).Object(name).NewWriter(ctx)
	w.ContentType = "text/csv"
	buf := clean.AppendRecord(nil, x.Pipeline.CleanHeader())
	rec := make([]string, len(cols)+1)
	for i, row := range page {
		for k, j := range cols {
			rec[k] = canonical(row[j])
		}
		rec[len(cols)] = strconv.FormatInt(cp.Rows+int64(i)+1, 10)
		buf = clean.AppendRecord(buf, rec)
	}
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// canonical renders a BigQuery value in the text form a load accepts.
func canonical(v bigquery.Value) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case *big.Rat:
		return trimZeros(bigquery.NumericString(v))
	case civil.Date:
		return v.String()
	case civil.DateTime:
		return v.Date.String() + " " + clock(v.Time)
	case civil.Time:
		return clock(v)
	case time.Time:
		return v.UTC().Format("2006-01-02 15:04:05.999999") + " UTC"
	default:
		return fmt.Sprint(v)
	}
}

// trimZeros drops a decimal's trailing fractional zeros ("12.340" → "12.34").
func trimZeros(d string) string {
	if !strings.Contains(d, ".") {
		return d
	}
	return strings.TrimRight(strings.TrimRight(d, "0"), ".")
}

// clock writes a time of day with at most microseconds, BigQuery's precision.
func clock(t civil.Time) string {
	return time.Date(0, 1, 1, t.Hour, t.Minute, t.Second, t.Nanosecond, time.UTC).Format("15:04:05.999999")
}
