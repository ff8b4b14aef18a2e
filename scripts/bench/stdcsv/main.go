// Command stdcsv is the straightforward baseline for the clean benchmark: it
// cleans the purchases CSV with encoding/csv, time.Parse and strconv, applying
// the same rules as scripts/bench/purchases.spec.yaml, and writes the clean
// CSV (with _row) and the rejects like dropcast clean does.
//
//	go run ./scripts/bench/stdcsv -o clean.csv -rejects rejects.csv purchases.csv
package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	out := flag.String("o", "/dev/null", "clean CSV output")
	rejects := flag.String("rejects", "/dev/null", "rejects CSV output")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: stdcsv [-o OUT] [-rejects FILE] FILE")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *out, *rejects); err != nil {
		fmt.Fprintln(os.Stderr, "stdcsv:", err)
		os.Exit(2)
	}
}

func run(in, outPath, rejPath string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	of, err := os.Create(outPath)
	if err != nil {
		return err
	}
	defer of.Close()
	rf, err := os.Create(rejPath)
	if err != nil {
		return err
	}
	defer rf.Close()
	ob, rb := bufio.NewWriterSize(of, 1<<16), bufio.NewWriterSize(rf, 1<<16)
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<16))
	r.ReuseRecord = true
	w, rw := csv.NewWriter(ob), csv.NewWriter(rb)
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	want := []string{"date", "store_id", "item_id", "category", "price", "quantity", "promo", "note"}
	if strings.Join(header, ",") != strings.Join(want, ",") {
		return fmt.Errorf("unexpected header %q", header)
	}
	w.Write(append(want, "_row"))
	rw.Write([]string{"line", "column", "reason", "record"})
	var in64, clean, rejected int64
	outRec := make([]string, 9)
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		line, _ := r.FieldPos(0)
		in64++
		col, reason := cleanRow(rec, outRec)
		if reason != "" {
			rejected++
			rw.Write([]string{strconv.Itoa(line), col, reason, strings.Join(rec, ",")})
			continue
		}
		clean++
		outRec[8] = strconv.Itoa(line)
		w.Write(outRec)
	}
	w.Flush()
	rw.Flush()
	if err := errors.Join(w.Error(), rw.Error(), ob.Flush(), rb.Flush()); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d rows in, %d clean, %d rejected\n", in64, clean, rejected)
	return nil
}

// cleanRow validates and normalises one record into out, or names the
// column and reason of its first problem.
func cleanRow(rec, out []string) (string, string) {
	if len(rec) != 8 {
		return "", "wrong number of fields"
	}
	d, err := time.Parse("2006-01-02", strings.TrimSpace(rec[0]))
	if err != nil {
		return "date", "DATE: " + strconv.Quote(rec[0]) + " is not a date"
	}
	out[0] = d.Format("2006-01-02")
	out[1] = ""
	if s := strings.TrimSpace(rec[1]); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return "store_id", "INT64: " + strconv.Quote(rec[1]) + " is not a valid integer"
		}
		out[1] = strconv.FormatInt(n, 10)
	}
	out[2], out[3] = strings.TrimSpace(rec[2]), strings.TrimSpace(rec[3])
	p, ok := new(big.Rat).SetString(strings.TrimSpace(rec[4]))
	if !ok || p.Sign() < 0 {
		return "price", "NUMERIC: " + strconv.Quote(rec[4]) + " is not a decimal"
	}
	out[4] = strings.TrimRight(strings.TrimRight(p.FloatString(9), "0"), ".")
	q, err := strconv.ParseInt(strings.TrimSpace(rec[5]), 10, 64)
	if err != nil {
		return "quantity", "INT64: " + strconv.Quote(rec[5]) + " is not an integer"
	}
	out[5] = strconv.FormatInt(q, 10)
	switch strings.ToLower(strings.TrimSpace(rec[6])) {
	case "true":
		out[6] = "true"
	case "false":
		out[6] = "false"
	case "":
		out[6] = ""
	default:
		return "promo", "BOOL: " + strconv.Quote(rec[6]) + " is not a boolean"
	}
	out[7] = strings.TrimSpace(rec[7])
	return "", ""
}
