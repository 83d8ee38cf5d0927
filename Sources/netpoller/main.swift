print("netpoller")
