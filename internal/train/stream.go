package train

// Stream names used by Loop; the streams come from internal/seed.
const (
	StreamDataOrder = "data order"
	StreamNoise     = "noise"
)
