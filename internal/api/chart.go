package api

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/berth-registry/berth/internal/oci"
)

// Bounds on reading a Helm chart archive (charts are KiBs; Helm itself
// refuses more than 100 MiB unpacked and 5 MiB per file).
const (
	maxChartArchive  = 16 << 20 // the .tgz layer
	maxChartUnpacked = 64 << 20 // all bytes the archive unpacks to
	maxChartFile     = 5 << 20  // one file kept
	maxChartEntries  = 10000
)

// errChartTooLarge: the archive exceeds a bound above.
var errChartTooLarge = fmt.Errorf("chart archive exceeds berth's bounds (%d bytes packed, %d unpacked, %d per file, %d entries): %w",
	maxChartArchive, maxChartUnpacked, maxChartFile, maxChartEntries, errBlobTooLarge)

// chartFiles are the files of a chart's top directory that its additions
// come from.
type chartFiles struct {
	chart, requirements, values, readme []byte
}

// chartLayer is the chart archive among a chart manifest's layers: Helm's
// content layer, else (as Harbor takes it) the first layer that is not
// the config.
func chartLayer(doc *manifestDoc) *oci.Descriptor {
	for i := range doc.Layers {
		if doc.Layers[i].MediaType == mtHelmChart {
			return &doc.Layers[i]
		}
	}
	for i := range doc.Layers {
		if doc.Config == nil || doc.Layers[i].Digest != doc.Config.Digest {
			return &doc.Layers[i]
		}
	}
	return nil
}

// chartAddition is values.yaml, readme.md (empty if the chart has none,
// as Harbor answers) or dependencies of a chart.
func (s *Server) chartAddition(ctx context.Context, repo string, doc *manifestDoc, addition string) ([]byte, string, error) {
	layer := chartLayer(doc)
	if layer == nil {
		return nil, "", errBlobAbsent
	}
	if layer.Size > maxChartArchive {
		return nil, "", errChartTooLarge
	}
	rc, err := s.openBlob(ctx, repo, layer.Digest, maxChartArchive)
	if errors.Is(err, errBlobTooLarge) {
		return nil, "", errChartTooLarge
	} else if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	files, err := readChartArchive(rc)
	if err != nil {
		return nil, "", err
	}
	switch addition {
	case additionValues:
		return files.values, "text/plain; charset=utf-8", nil
	case additionReadme:
		return files.readme, "text/markdown; charset=utf-8", nil
	}
	deps, err := files.dependencies()
	if err != nil {
		return nil, "", errUnprocessable("the chart's dependencies cannot be read: " + err.Error())
	}
	b, err := json.Marshal(deps)
	return b, "application/json; charset=utf-8", err
}

// readChartArchive reads the files the additions need from a chart .tgz,
// within the bounds above. Names are taken as Helm's loader takes them:
// below the archive's top directory; README.md and values.yaml in any
// case, as Harbor matches them.
func readChartArchive(r io.Reader) (*chartFiles, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, errUnprocessable("the chart archive is not gzip: " + err.Error())
	}
	unpacked := &io.LimitedReader{R: zr, N: maxChartUnpacked + 1}
	tr := tar.NewReader(unpacked)
	var f chartFiles
	for n := 0; ; n++ {
		if n == maxChartEntries {
			return nil, errChartTooLarge
		}
		hd, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if unpacked.N <= 0 {
			return nil, errChartTooLarge
		}
		if err != nil {
			return nil, errUnprocessable("the chart archive is not a valid tar: " + err.Error())
		}
		if hd.Typeflag != tar.TypeReg {
			continue
		}
		_, name, _ := strings.Cut(strings.ReplaceAll(hd.Name, `\`, "/"), "/")
		var dst *[]byte
		switch {
		case name == "Chart.yaml":
			dst = &f.chart
		case name == "requirements.yaml":
			dst = &f.requirements
		case strings.EqualFold(name, "values.yaml"):
			dst = &f.values
		case strings.EqualFold(name, "README.md"):
			dst = &f.readme
		default:
			continue
		}
		if hd.Size > maxChartFile {
			return nil, errChartTooLarge
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxChartFile+1))
		if unpacked.N <= 0 || len(b) > maxChartFile {
			return nil, errChartTooLarge
		}
		if err != nil {
			return nil, errUnprocessable("the chart archive is not a valid tar: " + err.Error())
		}
		*dst = b
	}
	if unpacked.N <= 0 {
		return nil, errChartTooLarge
	}
	return &f, nil
}

// chartDependency is Helm's Dependency, in Helm's JSON names.
type chartDependency struct {
	Name         string   `json:"name" yaml:"name"`
	Version      string   `json:"version,omitempty" yaml:"version"`
	Repository   string   `json:"repository" yaml:"repository"`
	Condition    string   `json:"condition,omitempty" yaml:"condition"`
	Tags         []string `json:"tags,omitempty" yaml:"tags"`
	Enabled      bool     `json:"enabled,omitempty" yaml:"enabled"`
	ImportValues []any    `json:"import-values,omitempty" yaml:"import-values"`
	Alias        string   `json:"alias,omitempty" yaml:"alias"`
}

// dependencies are a chart's, as Harbor reads them: from Chart.yaml for
// apiVersion v2, from requirements.yaml for v1 (Helm's default when
// Chart.yaml names none); [] when there are none.
func (f *chartFiles) dependencies() ([]chartDependency, error) {
	var chart struct {
		APIVersion   string            `yaml:"apiVersion"`
		Dependencies []chartDependency `yaml:"dependencies"`
	}
	if err := yaml.Unmarshal(f.chart, &chart); err != nil {
		return nil, fmt.Errorf("reading Chart.yaml: %w", err)
	}
	deps := chart.Dependencies
	if chart.APIVersion != "v2" {
		var req struct {
			Dependencies []chartDependency `yaml:"dependencies"`
		}
		if err := yaml.Unmarshal(f.requirements, &req); err != nil {
			return nil, fmt.Errorf("reading requirements.yaml: %w", err)
		}
		deps = req.Dependencies
	}
	if deps == nil {
		deps = []chartDependency{}
	}
	return deps, nil
}
