package export

import (
	"math/big"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"

	"github.com/dropcast/dropcast/shared/schema"
	"github.com/dropcast/dropcast/shared/spec"
)

// canonical must write what BigQuery's CSV loader and the cleaner's
// canonical forms agree on, so exported rows load and predict like clean ones.
func TestCanonical(t *testing.T) {
	cases := []struct {
		in   bigquery.Value
		want string
	}{
		{nil, ""},
		{"x,y", "x,y"},
		{int64(-42), "-42"},
		{3.25, "3.25"},
		{true, "true"},
		{big.NewRat(1234, 100), "12.34"},
		{civil.Date{Year: 2026, Month: 4, Day: 26}, "2026-04-26"},
		{civil.DateTime{Date: civil.Date{Year: 2026, Month: 4, Day: 26}, Time: civil.Time{Hour: 6, Minute: 5, Second: 4, Nanosecond: 500000000}}, "2026-04-26 06:05:04.5"},
		{time.Date(2026, 4, 26, 8, 0, 0, 0, time.FixedZone("CEST", 2*3600)), "2026-04-26 06:00:00 UTC"},
	}
	for _, c := range cases {
		if got := canonical(c.in); got != c.want {
			t.Errorf("canonical(%#v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestColumnIndexMatchesByNameAndNamesWhatIsMissing(t *testing.T) {
	p := &spec.Pipeline{Schema: schema.Schema{Columns: []schema.Column{{Name: "price"}, {Name: "Date"}}}}
	idx, err := columnIndex(p, bigquery.Schema{{Name: "date"}, {Name: "_row"}, {Name: "price"}})
	if err != nil || idx[0] != 2 || idx[1] != 0 {
		t.Fatalf("columnIndex = %v, %v", idx, err)
	}
	if _, err := columnIndex(p, bigquery.Schema{{Name: "date"}}); err == nil || err.Error() != "the source has no column price" {
		t.Fatalf("missing column: %v", err)
	}
}
