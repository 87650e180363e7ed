package lakeingest

// OpenTestEnv opens a journal and a lake for the package's external tests.
var OpenTestEnv = openTestEnv
