package scan

import "github.com/google/uuid"

// newReportID is a random UUID (version 4), the shape of Harbor's report
// ids.
func newReportID() string { return uuid.NewString() }
