package format

// Refang is refang, for the external tests.
var Refang = refang
