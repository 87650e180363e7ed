package integrity

// SetStreamOnly turns the whole-buffer (libdeflate) path of log checks off
// or on, for benchmarks that compare the two; it returns the old setting.
func SetStreamOnly(on bool) bool { old := streamOnly; streamOnly = on; return old }

// FastGunzipAvailable reports whether libdeflate was found.
var FastGunzipAvailable = fastGunzipAvailable
