// Command functions serves one function of the deployable bundle with the
// Functions Framework, the way Cloud Run serves a deployed function: the
// repository's root package registers every function in init(), and
// FUNCTION_TARGET picks the one served at "/" on PORT (default 8080).
// Everything else comes from the environment (shared/config), as deployed.
//
//	FUNCTION_TARGET=load PORT=8081 DROPCAST_PROJECT=… go run ./cmd/functions
//
// The local stack (shared/localstack, Options.Processes) starts one of these
// per function against its emulators, so each function runs in a process of
// its own, as it does on Cloud Run.
//
// This follows the Functions Framework's documented local main
// (https://github.com/GoogleCloudPlatform/functions-framework-go#quickstart-hello-world-on-your-local-machine):
// "Use PORT environment variable, or default to 8080", and LOCAL_ONLY=true
// listens on 127.0.0.1 only.
package main

import (
	"log"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	_ "github.com/dropcast/dropcast" // registers every function
)

func main() {
	if os.Getenv("FUNCTION_TARGET") == "" {
		log.Fatal("functions: set FUNCTION_TARGET to the function to serve (ingest, preprocess, load, predict, postprocess, export, notify, sweep, trigger, status)")
	}
	port := "8080"
	if p := os.Getenv("PORT"); p != "" {
		port = p
	}
	host := ""
	if os.Getenv("LOCAL_ONLY") == "true" {
		host = "127.0.0.1"
	}
	if err := funcframework.StartHostPort(host, port); err != nil {
		log.Fatalf("functions: funcframework.StartHostPort: %v", err)
	}
}
