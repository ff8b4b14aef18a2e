package app

import (
	"context"
	"net/http"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/dropcast/dropcast/shared/kernel"
)

// StepHandler serves a kernel step built by newStep from the process's App,
// which is created from the environment on the first request.
func StepHandler(newStep func(*App) kernel.Step) http.HandlerFunc {
	var h http.Handler
	var once onceErr
	return func(w http.ResponseWriter, r *http.Request) {
		if err := once.do(func() error {
			a, err := fromEnv()
			if err != nil {
				return err
			}
			h = a.Kernel.Handler(newStep(a))
			return nil
		}); err != nil {
			http.Error(w, "dropcast is misconfigured: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h.ServeHTTP(w, r)
	}
}

// HTTPHandler serves a plain HTTP function built by newHandler from the process's App.
func HTTPHandler(newHandler func(*App) http.Handler) http.HandlerFunc {
	var h http.Handler
	var once onceErr
	return func(w http.ResponseWriter, r *http.Request) {
		if err := once.do(func() error {
			a, err := fromEnv()
			if err != nil {
				return err
			}
			h = newHandler(a)
			return nil
		}); err != nil {
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
