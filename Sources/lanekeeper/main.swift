print("lanekeeper: under construction")
