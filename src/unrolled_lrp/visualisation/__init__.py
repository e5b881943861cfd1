"""visualisation"""
