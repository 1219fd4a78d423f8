"""Tests of the test hypervisor, its XML handling, the fake QMP monitor and guest agent."""
