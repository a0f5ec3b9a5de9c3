"""medsr.engine"""
