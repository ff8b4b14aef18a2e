// Package sample generates the demo model's training data: purchases in the
// sample CSV layout plus a "returned" column drawn from a known process.
//
// Return odds are higher for apparel and electronics, for dearer items and
// for promotions, lower for groceries and larger quantities, and differ a
// little by store:
//
//	logit = -1.3 + category + 0.9*(log1p(price) - log1p(40)) + 1.0*promo - 0.25*(quantity-1) + store
package sample

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// Header is the generated CSV's header row.
func Header() []string {
	return []string{"date", "store_id", "item_id", "category", "price", "quantity", "promo", "note", "_row", "returned"}
}

// category is one product category: its share of purchases, typical price
// and effect on the return logit.
type category struct {
	name   string
	weight float64
	price  float64
	effect float64
}

func categories() []category {
	return []category{
		{"grocery", 0.35, 6, -2.0},
		{"apparel", 0.2, 45, 1.3},
		{"electronics", 0.15, 180, 0.8},
		{"home", 0.15, 60, -0.2},
		{"toys", 0.15, 25, 0.1},
	}
}

// storeEffects are the return-logit effects of stores 1..5.
func storeEffects() []float64 { return []float64{0, 0.3, -0.3, 0.15, -0.15} }

func notes() []string {
	return []string{"", "", "", "gift", "gift, wrapped", `asked for "express" delivery`, "loyalty card", "paid cash"}
}

// Generate writes a header and n purchases drawn with the given seed; the
// same n and seed always give the same bytes. _row is the line number.
func Generate(w io.Writer, n int, seed uint64) error {
	rng := &splitmix{state: seed}
	cw := csv.NewWriter(w)
	if err := cw.Write(Header()); err != nil {
		return fmt.Errorf("sample: write header: %w", err)
	}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cats, stores, ns := categories(), storeEffects(), notes()
	for i := range n {
		c := pick(cats, rng.float())
		store := rng.intn(len(stores))
		price := math.Round(c.price*math.Exp(0.5*rng.normal())*100) / 100
		if price < 0.5 {
			price = 0.5
		}
		quantity := 1 + rng.intn(4)
		promo := rng.float() < 0.25
		logit := -1.3 + c.effect + 0.9*(math.Log1p(price)-math.Log1p(40)) - 0.25*float64(quantity-1) + stores[store]
		if promo {
			logit += 1.0
		}
		returned := rng.float() < 1/(1+math.Exp(-logit))
		rec := []string{
			start.AddDate(0, 0, rng.intn(366)).Format(time.DateOnly),
			strconv.Itoa(store + 1),
			fmt.Sprintf("SKU-%05d", rng.intn(100000)),
			c.name,
			strconv.FormatFloat(price, 'f', 2, 64),
			strconv.Itoa(quantity),
			strconv.FormatBool(promo),
			ns[rng.intn(len(ns))],
			strconv.Itoa(i + 2),
			strconv.FormatBool(returned),
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("sample: write row %d: %w", i+1, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("sample: flush: %w", err)
	}
	return nil
}

func pick(cats []category, u float64) category {
	for _, c := range cats {
		if u < c.weight {
			return c
		}
		u -= c.weight
	}
	return cats[len(cats)-1]
}

// splitmix is SplitMix64, a small generator whose sequence is fixed by its
// definition (unlike math/rand's, which may change between Go releases).
type splitmix struct{ state uint64 }

func (s *splitmix) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float is uniform in [0, 1).
func (s *splitmix) float() float64 { return float64(s.next()>>11) / (1 << 53) }

// intn is uniform in [0, n).
func (s *splitmix) intn(n int) int { return int(s.next() % uint64(n)) }

// normal is a standard normal draw (Box-Muller).
func (s *splitmix) normal() float64 {
	u1 := 1 - s.float()
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*s.float())
}
