package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// flagSet is a flag.FlagSet whose flags each have an environment variable:
// the variable sets the default, the flag overrides it.
type flagSet struct {
	*flag.FlagSet
	envErrs []string
	lookup  func(string) (string, bool)
}

func newFlagSet(name, synopsis string, stderr io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), lookup: os.LookupEnv}
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nFlags:\n", strings.TrimSpace(synopsis))
		fs.PrintDefaults()
	}
	return fs
}

func (fs *flagSet) env(name, env string) (string, bool) {
	if env == "" {
		return "", false
	}
	return fs.lookup(env)
}

func withEnv(usage, env string) string {
	if env == "" {
		return usage
	}
	return usage + " (env " + env + ")"
}

func (fs *flagSet) String(p *string, name, env, def, usage string) {
	if v, ok := fs.env(name, env); ok {
		def = v
	}
	fs.StringVar(p, name, def, withEnv(usage, env))
}

func (fs *flagSet) Bool(p *bool, name, env string, def bool, usage string) {
	if v, ok := fs.env(name, env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fs.envErrs = append(fs.envErrs, fmt.Sprintf("%s=%q is not true or false", env, v))
		} else {
			def = b
		}
	}
	fs.BoolVar(p, name, def, withEnv(usage, env))
}

func (fs *flagSet) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := fs.env(name, env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			fs.envErrs = append(fs.envErrs, fmt.Sprintf("%s=%q is not a duration like 5m or 1s", env, v))
		} else {
			def = d
		}
	}
	fs.DurationVar(p, name, def, withEnv(usage, env))
}

func (fs *flagSet) Float(p *float64, name, env string, def float64, usage string) {
	if v, ok := fs.env(name, env); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			fs.envErrs = append(fs.envErrs, fmt.Sprintf("%s=%q is not a number", env, v))
		} else {
			def = f
		}
	}
	fs.Float64Var(p, name, def, withEnv(usage, env))
}

// Parse parses args after checking the environment variables.
func (fs *flagSet) Parse(args []string) error {
	if len(fs.envErrs) > 0 {
		return fmt.Errorf("bad environment: %s", strings.Join(fs.envErrs, "; "))
	}
	return fs.FlagSet.Parse(args)
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
