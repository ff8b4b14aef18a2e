package clean

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// reasonUnterminated rejects a record whose quoted field is still open at the
// end of the input: the record runs from its first line to the end of the file.
const reasonUnterminated = "unterminated quoted field"

// errTooLong is a record longer than the buffer may grow.
var errTooLong = errors.New("record too long")

// oversizeHead is how much of an oversize record is kept for its reject line.
const oversizeHead = 1024

// scanner splits a byte stream into CSV records (RFC 4180, with a single-byte
// delimiter and quote) without allocating per record or field. Lines end in
// LF or CRLF; blank lines are skipped. A quote opens a quoted field only at
// the start of a field; elsewhere it is data.
type scanner struct {
	rd        io.Reader
	buf       []byte
	r, w      int   // unread bytes are buf[r:w]
	base      int64 // stream offset of buf[0]
	eof       bool
	delim     byte
	quote     byte
	maxRecord int

	// The current record, valid until the next call to next.
	offset    int64    // stream offset of its first byte
	line      int64    // source line of its first line
	nextLine  int64    // source line of the following record
	raw       []byte   // its text without the line terminator
	fields    [][]byte // its fields, unquoted
	malformed int      // index of a quoted field with text after its closing quote, or -1
	oversize  bool     // longer than maxRecord: raw is its first bytes and fields is nil
	// unterminated: a quoted field of the record never closes, so the record
	// runs to the end of the input, swallowing lines line to nextLine-1; raw
	// is its text (its first bytes if also oversize) and fields is empty.
	unterminated bool

	fbuf []byte // unescaped fields of a record with quotes
	ends []int  // field ends in fbuf
	head []byte // start of an oversize record
}

// newScanner reads records from rd, whose first byte is at stream offset
// offset and starts source line line.
func newScanner(rd io.Reader, offset, line int64, delim, quote byte, bufSize, maxRecord int) *scanner {
	if bufSize > maxRecord {
		bufSize = maxRecord
	}
	return &scanner{rd: rd, buf: make([]byte, bufSize), base: offset, nextLine: line,
		delim: delim, quote: quote, maxRecord: maxRecord, malformed: -1}
}

// pos is the stream offset of the next unread byte.
func (s *scanner) pos() int64 { return s.base + int64(s.r) }

// next reads the next record. It returns false at the end of the input, or a
// read error.
func (s *scanner) next() (bool, error) {
	s.line = s.nextLine
	s.malformed, s.oversize, s.unterminated = -1, false, false
	for {
		data := s.buf[s.r:s.w]
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 && !s.eof {
			if err := s.more(); err != nil {
				if err == errTooLong {
					return true, s.skipLong()
				}
				return false, err
			}
			continue
		}
		if len(data) == 0 {
			return false, nil
		}
		end, adv := nl, nl+1
		if nl < 0 {
			end, adv = len(data), len(data)
		}
		s.offset = s.pos()
		line := data[:end]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if !s.split(line) {
			done, err := s.parseQuoted(data)
			if err != nil {
				return false, err
			}
			if done {
				return true, nil
			}
			if err := s.more(); err != nil {
				if err == errTooLong {
					return true, s.skipLong()
				}
				return false, err
			}
			continue
		}
		s.r += adv
		if len(line) == 0 { // blank line
			s.line++
			s.nextLine = s.line
			continue
		}
		s.raw = line
		s.nextLine = s.line + 1
		return true, nil
	}
}

// split cuts a line at its delimiters; it returns false, leaving the fields
// unset, when the line has a quote (the record needs parseQuoted).
func (s *scanner) split(line []byte) bool {
	f := s.fields[:0]
	d, q := s.delim, s.quote
	start := 0
	for i, c := range line {
		switch c {
		case d:
			f = append(f, line[start:i])
			start = i + 1
		case q:
			return false
		}
	}
	s.fields = append(f, line[start:])
	return true
}

// parseQuoted parses the record at the start of data, which has a quote.
// It returns false when data ends inside the record and more input may follow.
func (s *scanner) parseQuoted(data []byte) (bool, error) {
	s.fbuf, s.ends = s.fbuf[:0], s.ends[:0]
	s.malformed = -1
	q, d := s.quote, s.delim
	nls := int64(0)
	i := 0
	for field := 0; ; field++ {
		if i < len(data) && data[i] == q {
			i++
			for {
				j := bytes.IndexByte(data[i:], q)
				if j < 0 {
					if s.eof {
						s.openToEnd(data)
						return true, nil
					}
					return false, nil
				}
				seg := data[i : i+j]
				nls += int64(bytes.Count(seg, []byte{'\n'}))
				s.fbuf = append(s.fbuf, seg...)
				i += j + 1
				if i == len(data) && !s.eof {
					return false, nil // the next byte may be a second quote
				}
				if i < len(data) && data[i] == q {
					s.fbuf = append(s.fbuf, q)
					i++
					continue
				}
				break
			}
			if i < len(data) && data[i] != d && data[i] != '\n' &&
				!(data[i] == '\r' && (i+1 == len(data) || data[i+1] == '\n')) && s.malformed < 0 {
				s.malformed = field
			}
		}
		// Unquoted text up to the delimiter or line end.
		j := i
		for j < len(data) && data[j] != d && data[j] != '\n' {
			j++
		}
		if j == len(data) && !s.eof {
			return false, nil
		}
		seg := data[i:j]
		if (j == len(data) || data[j] == '\n') && len(seg) > 0 && seg[len(seg)-1] == '\r' {
			seg = seg[:len(seg)-1]
		}
		s.fbuf = append(s.fbuf, seg...)
		s.ends = append(s.ends, len(s.fbuf))
		if j < len(data) && data[j] == d {
			i = j + 1
			continue
		}
		// End of record.
		end := j
		if end > 0 && data[end-1] == '\r' {
			end--
		}
		s.raw = data[:end]
		if j < len(data) {
			j++ // the newline
		}
		s.r += j
		s.nextLine = s.line + 1 + nls
		s.fields = s.fields[:0]
		start := 0
		for _, e := range s.ends {
			s.fields = append(s.fields, s.fbuf[start:e])
			start = e
		}
		return true, nil
	}
}

// openToEnd makes data, the rest of the input (a record whose quoted field
// never closes), the current record: one unterminated record that covers
// every line up to the end of the input. The whole rest is in the buffer
// here; a longer one takes skipLong instead.
func (s *scanner) openToEnd(data []byte) {
	raw := data
	if n := len(raw); n > 0 && raw[n-1] == '\n' {
		raw = raw[:n-1]
		if n := len(raw); n > 0 && raw[n-1] == '\r' {
			raw = raw[:n-1]
		}
	}
	s.raw, s.fields, s.unterminated = raw, s.fields[:0], true
	s.r += len(data)
	s.nextLine = s.line + 1 + int64(bytes.Count(raw, []byte{'\n'}))
}

// more reads input after s.buf[s.w], compacting or growing the buffer.
func (s *scanner) more() error {
	if s.w == len(s.buf) {
		switch {
		case s.r > 0:
			n := copy(s.buf, s.buf[s.r:s.w])
			s.base += int64(s.r)
			s.r, s.w = 0, n
		case len(s.buf) >= s.maxRecord:
			return errTooLong
		default:
			nb := make([]byte, min(2*len(s.buf), s.maxRecord))
			copy(nb, s.buf[:s.w])
			s.buf = nb
		}
	}
	for s.w < len(s.buf) {
		n, err := s.rd.Read(s.buf[s.w:])
		s.w += n
		if err == io.EOF {
			s.eof = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("read at byte %d: %w", s.base+int64(s.w), err)
		}
		if n == 0 {
			break
		}
	}
	return nil
}

// skipLong consumes an oversize record that starts at s.buf[s.r] without
// keeping it, tracking quotes and newlines; s.raw is its first bytes.
func (s *scanner) skipLong() error {
	const (
		fieldStart = iota
		unquoted
		quoted
		quotedQuote
	)
	s.offset = s.pos()
	s.oversize, s.fields = true, s.fields[:0]
	s.head = append(s.head[:0], s.buf[s.r:min(s.w, s.r+oversizeHead)]...)
	s.raw = s.head
	st, nls := fieldStart, int64(0)
	var last byte // the last byte consumed
	for {
		data := s.buf[s.r:s.w]
		if len(data) > 0 {
			last = data[len(data)-1]
		}
		for i, c := range data {
			switch st {
			case fieldStart:
				if c == s.quote {
					st = quoted
					continue
				}
				st = unquoted
				fallthrough
			case unquoted:
				if c == s.delim {
					st = fieldStart
				} else if c == '\n' {
					s.r += i + 1
					s.nextLine = s.line + 1 + nls
					return nil
				}
			case quoted:
				if c == s.quote {
					st = quotedQuote
				} else if c == '\n' {
					nls++
				}
			case quotedQuote:
				switch c {
				case s.quote:
					st = quoted
				case s.delim:
					st = fieldStart
				case '\n':
					s.r += i + 1
					s.nextLine = s.line + 1 + nls
					return nil
				default:
					st = unquoted
				}
			}
		}
		s.base += int64(s.w)
		s.r, s.w = 0, 0
		if s.eof {
			if st == quoted {
				// Every newline since the record began was inside the
				// open quote; a final one ends the last line, not a line.
				s.unterminated = true
				if last == '\n' {
					nls--
				}
			}
			s.nextLine = s.line + 1 + nls
			return nil
		}
		if err := s.more(); err != nil {
			return err
		}
	}
}
