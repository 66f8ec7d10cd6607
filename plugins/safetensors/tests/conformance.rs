//! The conformance suite every backend passes, on generated Hugging Face folders (the cases are
//! in `suite/`, the backend's one registration for tests).

mod suite;

use suite::suite;

modelcache_conformance::conformance_tests!(suite());
