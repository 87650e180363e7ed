// Command opentrail is an open-source, self-hosted implementation of AWS
// CloudTrail: `opentrail serve` runs it on a data directory, and the other
// subcommands load logs into it and read its event history.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

const usage = `opentrail: a self-hosted AWS CloudTrail.

Usage:
  opentrail serve [flags]              run the server (AWS CloudTrail API, event history)
  opentrail ingest [flags] FILE|DIR... load CloudTrail log files into an account's event history
  opentrail events lookup [flags]      search the event history (pages for you)
  opentrail events download [flags]    download the event history as CSV or JSON
  opentrail validate-logs [flags]      validate a trail's log files with its digest files
  opentrail query download [flags]     download a Lake query's saved results, verified, as CSV
  opentrail version                    print the version
  opentrail help [COMMAND]             show help

Every flag can also be set with an environment variable (shown in each
command's help). Run "opentrail COMMAND -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		var ee exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(os.Stderr, "opentrail:", ee.msg)
			}
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "opentrail:", err)
		os.Exit(1)
	}
}

// exitError ends the program with a status other than 1.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{code: 2}
	}
	switch args[0] {
	case "serve":
		m := NewMain(stdout, stderr)
		if err := m.ParseFlags(args[1:]); err != nil {
			return err
		}
		return m.Serve(ctx)
	case "ingest":
		return runIngest(ctx, args[1:], stdout, stderr)
	case "events":
		return runEvents(ctx, args[1:], stdout, stderr)
	case "validate-logs":
		if code := validateLogsMain(ctx, args[1:], stdout, stderr, os.Getenv); code != 0 {
			return exitError{code: code}
		}
		return nil
	case "query":
		if code := queryMain(ctx, args[1:], stdout, stderr, os.Getenv); code != 0 {
			return exitError{code: code}
		}
		return nil
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "opentrail", version())
		return nil
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			return run(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "opentrail: unknown command %q\n\n%s", args[0], usage)
	return exitError{code: 2}
}

// version is the module version the binary was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			v += " " + s.Value
		}
	}
	return v
}
