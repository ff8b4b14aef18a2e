package vertexemu

import (
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// defaultPageSize is the page size of List calls that give none.
const defaultPageSize = 50

// page cuts items to one page: token is the offset the previous page
// returned (empty for the first), and the next token is empty at the end.
func page[T any](items []T, size int32, token string) ([]T, string, error) {
	start := 0
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 || n > len(items) {
			return nil, "", status.Errorf(codes.InvalidArgument, "invalid page_token %q", token)
		}
		start = n
	}
	n := int(size)
	if n <= 0 {
		n = defaultPageSize
	}
	end := min(start+n, len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return items[start:end], next, nil
}

// parseFilter parses the filter subset the emulator supports: clauses
// field=value joined by AND, where value may be quoted with " or '.
// Only the given fields are allowed.
func parseFilter(filter string, fields ...string) (map[string]string, error) {
	out := map[string]string{}
	filter = strings.TrimSpace(filter)
	if filter == "" {
		return out, nil
	}
	for _, clause := range strings.Split(filter, " AND ") {
		field, value, ok := strings.Cut(clause, "=")
		field, value = strings.TrimSpace(field), strings.TrimSpace(value)
		if !ok || field == "" {
			return nil, status.Errorf(codes.InvalidArgument, "unsupported filter clause %q: want field=\"value\"", clause)
		}
		if !slices.Contains(fields, field) {
			return nil, status.Errorf(codes.InvalidArgument, "unsupported filter field %q (supported: %s)", field, strings.Join(fields, ", "))
		}
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			q := value[:1]
			value = strings.ReplaceAll(value[1:len(value)-1], `\`+q, q)
		}
		out[field] = value
	}
	return out, nil
}

// matches says whether got passes the filter clause for field, if any.
func matches(filter map[string]string, field, got string) bool {
	want, ok := filter[field]
	return !ok || want == got
}
