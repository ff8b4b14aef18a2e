package tasksemu

import (
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/grpc/codes"
)

const maxPageSize = 1000

// paginate returns one page of items; tokens are offsets into the listing.
func paginate[T any](all []T, size int32, token string) ([]T, string, error) {
	if size < 0 {
		return nil, "", statusError(codes.InvalidArgument, fmt.Errorf("page_size %d is negative", size))
	}
	if size == 0 || size > maxPageSize {
		size = maxPageSize
	}
	start := 0
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 {
			return nil, "", statusError(codes.InvalidArgument, fmt.Errorf("page_token %q: %w", token, errBadToken))
		}
		start = min(n, len(all))
	}
	end := min(start+int(size), len(all))
	next := ""
	if end < len(all) {
		next = strconv.Itoa(end)
	}
	return all[start:end], next, nil
}

var errBadToken = errors.New("not a token from a previous listing")
