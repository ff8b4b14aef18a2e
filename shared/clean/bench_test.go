package clean

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/dropcast/dropcast/shared/schema"
	"gopkg.in/yaml.v3"
)

// purchases makes a purchases-like CSV of n rows with ~2.5% bad rows.
func purchases(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	cats := []string{"grocery", "dairy", "bakery", "produce", "household"}
	notes := []string{"gift wrap", "  trimmed  ", `"fragile, handle with care"`, `"said ""hi"""`}
	var b bytes.Buffer
	b.WriteString("date,store_id,item_id,category,price,quantity,promo,note\n")
	for i := 0; i < n; i++ {
		bad := rng.IntN(1000) < 25
		kind := rng.IntN(3)
		m, d := 1+rng.IntN(12), 1+rng.IntN(28)
		if bad && kind == 0 {
			m, d = 2, 30
		}
		price := fmt.Sprintf("%d.%02d", rng.IntN(500), rng.IntN(100))
		if bad && kind == 1 {
			price = "n/a"
		}
		qty := fmt.Sprint(1 + rng.IntN(20))
		if bad && kind == 2 {
			qty = ""
		}
		note := ""
		if rng.IntN(10) < 4 {
			note = notes[rng.IntN(len(notes))]
		}
		fmt.Fprintf(&b, "2026-%02d-%02d,%d,ITEM-%06d,%s,%s,%s,%t,%s\n", m, d, 1+rng.IntN(500), rng.IntN(100000),
			cats[rng.IntN(len(cats))], price, qty, rng.IntN(4) == 0, note)
	}
	return b.Bytes()
}

// benchSpec loads the benchmark spec the way the CLI does.
func benchSpec(b testing.TB) *schema.Schema {
	data, err := os.ReadFile("../../scripts/bench/purchases.spec.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var spec struct {
		schema.Schema `yaml:",inline"`
	}
	if err := yaml.Unmarshal(data, &spec); err != nil {
		b.Fatal(err)
	}
	return &spec.Schema
}

func BenchmarkClean(b *testing.B) {
	data := purchases(200_000)
	c, err := New(benchSpec(b), "purchases.csv")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		cp, err := c.Segment(context.Background(), bytesOpener(data), Checkpoint{}, io.Discard, io.Discard, nil)
		if err != nil || !cp.Done {
			b.Fatal(cp, err)
		}
	}
}

// BenchmarkCleanSegmented cleans the same data forced into 10+ segments.
func BenchmarkCleanSegmented(b *testing.B) {
	data := purchases(200_000)
	c, err := New(benchSpec(b), "purchases.csv")
	if err != nil {
		b.Fatal(err)
	}
	c.StopEvery = 200_000 / 12
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	segments := 0
	for b.Loop() {
		cp := Checkpoint{}
		for segments = 0; !cp.Done; segments++ {
			if cp, err = c.Segment(context.Background(), bytesOpener(data), cp, io.Discard, io.Discard, func() bool { return true }); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(segments), "segments")
}
