// Command gen writes the purchases benchmark CSV: header
// date,store_id,item_id,category,price,quantity,promo,note and about 2.5% bad
// rows (price "n/a", empty quantity, impossible dates). Output is
// deterministic for a given seed.
//
//	go run ./scripts/bench/gen -rows 1000000 -o purchases.csv
//	go run ./scripts/bench/gen -size 1G -o purchases-1g.csv
//	go run ./scripts/bench/gen -rows 3000000 -o - | …   # to standard output
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
)

func main() {
	rows := flag.Int64("rows", 1_000_000, "rows to write (ignored when -size is set)")
	size := flag.String("size", "", "approximate file size instead of -rows, e.g. 58M or 1G")
	seed := flag.Uint64("seed", 1, "random seed")
	out := flag.String("o", "purchases.csv", "output file (- for standard output)")
	flag.Parse()
	limit, err := parseSize(*size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(2)
	}
	if err := generate(*out, *rows, limit, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// parseSize reads "58M", "1G", "500K" or a byte count; "" is 0.
func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad -size %q: %w", s, err)
	}
	return n * mult, nil
}

func generate(path string, rows, limit int64, seed uint64) error {
	if path == "-" {
		return write(os.Stdout, rows, limit, seed)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if err := write(f, rows, limit, seed); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// write writes the CSV to out: rows data rows, or about limit bytes when
// limit is not 0.
func write(out io.Writer, rows, limit int64, seed uint64) error {
	w := bufio.NewWriterSize(out, 1<<20)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	categories := []string{"grocery", "dairy", "bakery", "produce", "household", "beverages", "frozen", "snacks"}
	notes := []string{"gift wrap", "loyalty card", "  trimmed note  ", `"fragile, handle with care"`,
		`"customer said ""hi"""`, `"bulk, pallet, dock 3"`, "returned later"}
	line := []byte("date,store_id,item_id,category,price,quantity,promo,note\n")
	var written int64
	for i := int64(0); limit > 0 && written < limit || limit == 0 && i < rows; i++ {
		written += int64(len(line))
		if _, err := w.Write(line); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		line = line[:0]
		bad := rng.IntN(1000) < 25
		kind := rng.IntN(3)
		y, m, d := 2025+rng.IntN(2), 1+rng.IntN(12), 1+rng.IntN(28)
		if bad && kind == 0 {
			m, d = 2, 30
		}
		line = strconv.AppendInt(line, int64(y), 10)
		line = append(line, '-', byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10), ',')
		line = strconv.AppendInt(line, int64(1+rng.IntN(500)), 10)
		line = append(line, ",ITEM-"...)
		line = append(line, fmt.Sprintf("%06d", rng.IntN(100000))...)
		line = append(line, ',')
		line = append(line, categories[rng.IntN(len(categories))]...)
		line = append(line, ',')
		if bad && kind == 1 {
			line = append(line, "n/a"...)
		} else {
			line = strconv.AppendInt(line, int64(rng.IntN(500)), 10)
			line = append(line, '.', byte('0'+rng.IntN(10)), byte('0'+rng.IntN(10)))
		}
		line = append(line, ',')
		if !(bad && kind == 2) {
			line = strconv.AppendInt(line, int64(1+rng.IntN(20)), 10)
		}
		line = append(line, ',')
		line = strconv.AppendBool(line, rng.IntN(4) == 0)
		line = append(line, ',')
		if rng.IntN(10) < 4 {
			line = append(line, notes[rng.IntN(len(notes))]...)
		}
		line = append(line, '\n')
	}
	if _, err := w.Write(line); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
