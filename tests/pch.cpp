// Compiled once per build tree to make the precompiled header every test reuses.
