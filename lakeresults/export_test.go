package lakeresults

// SetSpoolMemory changes how much of a file Download keeps in memory, and
// returns a function that restores it.
func SetSpoolMemory(n int64) (restore func()) {
	old := spoolMemory
	spoolMemory = n
	return func() { spoolMemory = old }
}

// SetMaxResultObject changes the bound on a fetched result file, and
// returns a function that restores it.
func SetMaxResultObject(n int64) (restore func()) {
	old := maxResultObject
	maxResultObject = n
	return func() { maxResultObject = old }
}
