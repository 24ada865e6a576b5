//! encode: see lib.rs for where this sits in the pipeline.
