package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// post sends body, retrying 5xx, 429 and transport errors with exponential
// backoff from backoff, Attempts times at most. The URL is a secret: errors
// never include it (nor the transport's error, which quotes it).
func post(ctx context.Context, c *http.Client, url string, body []byte, backoff time.Duration) error {
	var last error
	for i := range Attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff *= 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return errors.New("build webhook request: invalid webhook URL")
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			last = fmt.Errorf("attempt %d: webhook unreachable", i+1)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			return nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			last = fmt.Errorf("attempt %d: webhook answered %d", i+1, resp.StatusCode)
		default:
			return fmt.Errorf("webhook answered %d", resp.StatusCode)
		}
	}
	return fmt.Errorf("gave up after %d attempts: %w", Attempts, last)
}
