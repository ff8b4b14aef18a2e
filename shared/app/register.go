package app

import (
	"context"
	"net/http"
	"sync"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/dropcast/dropcast/shared/kernel"
)

// StepHandler serves a kernel step built by newStep from the process's App,
// which is created from the environment on the first request.
func StepHandler(newStep func(*App) kernel.Step) http.HandlerFunc {
	return HTTPHandler(func(a *App) http.Handler { return a.Kernel.Handler(newStep(a)) })
}

// HTTPHandler serves a plain HTTP function built by newHandler from the
// process's App, which is created from the environment on the first request.
func HTTPHandler(newHandler func(*App) http.Handler) http.HandlerFunc {
	handler := sync.OnceValues(func() (http.Handler, error) {
		a, err := fromEnv()
		if err != nil {
			return nil, err
		}
		return newHandler(a), nil
	})
	return func(w http.ResponseWriter, r *http.Request) {
		h, err := handler()
		if err != nil {
			http.Error(w, "dropcast is misconfigured: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h.ServeHTTP(w, r)
	}
}

// EventHandler is a CloudEvent function body given the App.
type EventHandler func(ctx context.Context, a *App, e event.Event) error

// CloudEvent adapts fn to functions-framework's CloudEvent signature.
func CloudEvent(fn EventHandler) func(context.Context, event.Event) error {
	return func(ctx context.Context, e event.Event) error {
		a, err := fromEnv()
		if err != nil {
			return err
		}
		return fn(ctx, a, e)
	}
}
