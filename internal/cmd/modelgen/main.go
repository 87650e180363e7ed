// Command modelgen writes the Go wire model of the CloudTrail API into
// api/ctapi: types.go (a struct per request, response and nested structure,
// a string type with constants per enum) and model.go (the shape and
// operation tables that ctapi.Decode validates against, and the HTTP status
// of every error).
//
// The botocore JSON model is the source of truth for operations, members and
// constraints; the Smithy model adds the HTTP status of each error and the
// service shape name that prefixes the short X-Amz-Target form.
//
//	go run ./internal/cmd/modelgen \
//		-model /path/to/botocore/cloudtrail_2013-11-01_service-2.json \
//		-smithy /path/to/cloudtrail-2013-11-01.json \
//		-out api/ctapi
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("modelgen: ")
	var (
		modelPath  = flag.String("model", "", "botocore service-2.json of CloudTrail `file`")
		smithyPath = flag.String("smithy", "", "Smithy JSON AST of CloudTrail `file`")
		outDir     = flag.String("out", "", "output `directory` (the ctapi package)")
	)
	flag.Parse()
	if *modelPath == "" || *smithyPath == "" || *outDir == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*modelPath, *smithyPath, *outDir); err != nil {
		log.Fatal(err)
	}
}

func run(modelPath, smithyPath, outDir string) error {
	m, err := loadBotocore(modelPath)
	if err != nil {
		return err
	}
	sm, err := loadSmithy(smithyPath)
	if err != nil {
		return err
	}
	files, err := generate(m, sm)
	if err != nil {
		return err
	}
	for _, name := range sortedKeys(files) {
		path := filepath.Join(outDir, name)
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}
