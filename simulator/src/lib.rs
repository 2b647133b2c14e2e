//! Switchboard simulator.
