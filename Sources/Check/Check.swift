// Check stage; see the module's other files.
